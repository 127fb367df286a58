// The operators' page: the dead letters of /api/dead-letters (docs/deadletters.md) with their
// reasons, and Re-drive and Discard buttons for each pending one. Every string from the server goes into the
// page through textContent, never as markup.
(() => {
  'use strict';

  const TOKEN_KEY = 'todo-ops.token';
  const $ = (id) => document.getElementById(id);
  let token = null;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') node.textContent = v;
      else if (k === 'className') node.className = v;
      else node.setAttribute(k, String(v));
    }
    for (const c of children) node.append(typeof c === 'string' ? document.createTextNode(c) : c);
    return node;
  }

  function claims(jwt) {
    const part = jwt.split('.')[1] || '';
    let b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    return JSON.parse(atob(b64));
  }

  function showError(text) {
    $('error').textContent = text || '';
    $('error').hidden = !text;
  }

  async function api(method, path, body) {
    const resp = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const fields = (data.errors || []).map((e) => `${e.field}: ${e.message}`).join('; ');
      throw new Error(`${resp.status} ${data.detail || resp.statusText}${fields ? ` (${fields})` : ''}`);
    }
    return data;
  }

  function query() {
    const q = new URLSearchParams({ state: $('q-state').value, limit: '100' });
    if ($('q-topic').value) q.set('topic', $('q-topic').value);
    if ($('q-consumer').value.trim()) q.set('consumer', $('q-consumer').value.trim());
    return q;
  }

  async function load() {
    showError('');
    try {
      const page = await api('GET', `/api/dead-letters?${query()}`);
      const body = $('letters').tBodies[0];
      body.replaceChildren(...page.items.map(row));
      const t = $('letters');
      t.dataset.loads = String(Number(t.dataset.loads) + 1);
      $('status').textContent = `${page.items.length} dead letter(s)${page.next_cursor ? ' (more: narrow the filter)' : ''}`;
    } catch (e) {
      showError(`Could not list dead letters: ${e.message}`);
    }
  }

  // A reason can quote a 256 KiB field: the cell shows its start, the tooltip all of it.
  function clip(text, max = 240) {
    return text.length > max ? `${text.slice(0, max)}…` : text;
  }

  function row(d) {
    const button = el('button', { type: 'button', className: 'redrive', 'data-id': d.id, text: 'Re-drive' });
    button.disabled = d.state !== 'dead';
    button.addEventListener('click', () => act(d.id, 'redrive', button));
    // Discard: a letter that must never be re-driven stops being pending (kept, with who and when).
    const discard = el('button', { type: 'button', className: 'discard', 'data-id': d.id, text: 'Discard' });
    discard.disabled = d.state !== 'dead';
    discard.addEventListener('click', () => act(d.id, 'discard', discard));
    const who = d.consumer === '' ? '(a sidecar)' : d.consumer;
    return el('tr', { 'data-id': d.id, 'data-state': d.state },
      el('td', { text: String(d.id) }),
      el('td', { text: `${d.topic} / ${who}` }),
      el('td', { className: 'event', text: `${d.event_type || '-'} ${d.event_id || d.key}` }),
      el('td', { className: 'reason', title: d.reason, text: `${d.reason_class}: ${clip(d.reason)}` }),
      el('td', { className: 'state', text: d.state + (d.applied ? ' (applied)' : '') }),
      el('td', { text: String(d.attempts) }),
      el('td', { className: 'redrives', text: String(d.redrives) }),
      el('td', {}, button, ' ', discard));
  }

  // `what`: redrive or discard (POST /api/dead-letters/{id}/<what>).
  async function act(id, what, button) {
    button.disabled = true;
    showError('');
    try {
      const answer = await api('POST', `/api/dead-letters/${id}/${what}`);
      const published = what === 'redrive' ? `, published ${answer.published}` : '';
      $('status').textContent = `#${id}: ${answer.items[0].outcome}${published}`;
      await load();
    } catch (e) {
      showError(`${what === 'redrive' ? 'Re-drive' : 'Discard'} of #${id} refused: ${e.message}`);
      button.disabled = false;
    }
  }

  function signIn(jwt) {
    let c;
    try { c = claims(jwt); } catch { showError('That is not a JWT.'); return; }
    token = jwt;
    sessionStorage.setItem(TOKEN_KEY, jwt);
    $('user-id').textContent = c.sub || '?';
    $('sign-in').hidden = true;
    $('session').hidden = false;
    $('ops').hidden = false;
    load();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('sign-in-form').addEventListener('submit', (ev) => { ev.preventDefault(); signIn($('token').value.trim()); });
    $('filter-form').addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
    $('sign-out').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      token = null;
      $('sign-in').hidden = false;
      $('session').hidden = true;
      $('ops').hidden = true;
    });
    const kept = sessionStorage.getItem(TOKEN_KEY);
    if (kept) signIn(kept);
  });
})();
