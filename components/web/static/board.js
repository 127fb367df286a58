// The web board: sign in with a development token, list, create, complete and delete tasks
// through the REST API, and apply the live updates of the realtime stream (Server-Sent Events
// through Pushpin). No framework, no build step. Every string that comes from a user or the
// server goes into the page through textContent or an attribute, never as markup.
//
// Live updates (docs/web.md):
// - POST /realtime/tickets (Bearer JWT) -> {ticket}; GET /realtime/events?ticket=..[&last_id=n]
//   is an SSE stream of `update` messages (id = the user's feed sequence, data = one
//   task-updates event) and `reset` (the feed no longer reaches back to last_id: reload).
// - A ticket only opens a stream, and expires within a minute, so the browser's own reconnect
//   would be refused: on any error the page closes the stream, fetches a new ticket and opens a
//   new one with last_id = the last id it saw, after 0.5 s, doubling to 10 s, forever.
// - A task change applies only when its sequence (the task's version) is greater than the one
//   shown; a deleted task never comes back. Whenever the stream cannot vouch for continuity
//   (first connect, reset) the list is reloaded from the REST API while updates are queued.
(() => {
  'use strict';

  const TOKEN_KEY = 'todo-board.token';
  const MIN_BACKOFF_MS = 500;
  const MAX_BACKOFF_MS = 10000;
  const HEALTHY_MS = 10000; // a stream open this long resets the backoff
  const MAX_NOTICES = 8;

  const $ = (id) => document.getElementById(id);

  // ---- state ---------------------------------------------------------------------------------

  let token = null; // the JWT, also in sessionStorage
  let generation = 0; // bumped on sign-in/out: async work of an older session is dropped
  const tasks = new Map(); // id -> task as shown ({...view, id, version, created, parent_task_id})
  const gone = new Set(); // ids of deleted tasks: never shown again
  let loaded = false; // false while the list is (re)loading: changes are queued in `pending`
  let pending = [];
  let resyncing = false;
  let resyncAgain = false;
  let resyncTimer = null;
  let resyncDelay = MIN_BACKOFF_MS;
  let loads = 0; // completed list loads (data-loads on #tasks, for diagnostics and tests)
  const shownReminders = new Set();

  let source = null; // the EventSource
  let lastId = null; // the last stream id seen (a decimal string)
  let retryTimer = null;
  let backoff = MIN_BACKOFF_MS;
  let openedAt = 0;
  let attempt = 0; // bumped by closeStream: a connect still waiting for its ticket gives up

  // ---- small DOM helpers ---------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'className') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'id' || k === 'type' ||
               k === 'datetime' || k === 'role' || k === 'title' || k === 'tabindex') {
        node.setAttribute(k, String(v));
      } else node[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      node.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return node;
  }

  function show(node, visible) { node.hidden = !visible; }

  // ---- the token -----------------------------------------------------------------------------

  function base64UrlDecode(text) {
    let b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  }

  // The token's claims, or an Error saying why it is not usable. The signature is the API's
  // business: the page only reads who it is for.
  function claimsOf(jwt) {
    const parts = jwt.split('.');
    if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)) || !parts[1]) {
      return new Error('That is not a JWT: three base64url parts separated by dots.');
    }
    let claims;
    try {
      claims = JSON.parse(base64UrlDecode(parts[1]));
    } catch (_) {
      return new Error("The token's payload is not base64url-encoded JSON.");
    }
    if (!claims || typeof claims.sub !== 'string' || claims.sub === '') {
      return new Error('The token names no user (no "sub" claim).');
    }
    if (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) {
      return new Error('The token has expired: get a new one.');
    }
    return claims;
  }

  function cleanToken(text) {
    return text.trim().replace(/^Bearer\s+/i, '').replace(/\s+/g, '');
  }

  // ---- REST ------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, problem, message) {
      super(message);
      this.status = status;
      this.problem = problem;
    }
  }

  async function api(method, path, body) {
    const gen = generation;
    const headers = { Authorization: 'Bearer ' + token, Accept: 'application/json, application/problem+json' };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, init);
    } catch (_) {
      throw new ApiError(0, null, 'The server cannot be reached; check the connection and try again.');
    }
    let data = null;
    const text = await r.text().catch(() => '');
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = null; }
    }
    if (r.status === 401 && gen === generation) {
      signOut('The server refused the token (expired, or not valid here): sign in again.');
    }
    if (!r.ok) {
      const detail = data && typeof data.detail === 'string' ? data.detail
        : data && typeof data.title === 'string' ? data.title : 'HTTP ' + r.status;
      throw new ApiError(r.status, data, detail);
    }
    return data;
  }

  async function fetchAllTasks() {
    const items = [];
    let cursor = null;
    for (let page = 0; page < 1000; page++) {
      const q = new URLSearchParams({ limit: '100' });
      if (cursor) q.set('cursor', cursor);
      const body = await api('GET', '/api/tasks?' + q.toString());
      items.push(...body.items);
      cursor = body.next_cursor;
      if (!cursor) return items;
    }
    throw new ApiError(0, null, 'The task list does not end.');
  }

  // ---- the task list: state ------------------------------------------------------------------

  // Every change, from the stream or from this page's own requests, is one of these:
  // {kind: 'set', id, version, view, created?, parent?} or {kind: 'delete', id, version}.
  function applyChange(change) {
    if (!loaded) {
      pending.push(change);
      return;
    }
    if (gone.has(change.id)) return;
    const cur = tasks.get(change.id);
    if (cur && !(change.version > cur.version)) return; // old news
    if (change.kind === 'delete') {
      gone.add(change.id);
      tasks.delete(change.id);
    } else {
      tasks.set(change.id, {
        ...change.view,
        id: change.id,
        version: change.version,
        created: (cur && cur.created) || change.created || new Date().toISOString(),
        parent_task_id: change.parent || (cur && cur.parent_task_id) || null,
      });
    }
    scheduleRender();
  }

  function fromRest(task) {
    return {
      kind: 'set', id: task.id, version: task.version, view: task,
      created: task.created_at, parent: task.parent_task_id,
    };
  }

  // One `task-updates` event from the stream.
  function onEvent(ev) {
    if (!ev || typeof ev !== 'object') return;
    if (ev.event_type === 'reminder.due') {
      showReminder(ev);
      return;
    }
    const id = ev.task_id;
    const version = Number(ev.sequence);
    if (typeof id !== 'string' || !Number.isFinite(version)) return;
    if (ev.event_type === 'task.deleted') {
      applyChange({ kind: 'delete', id, version });
    } else if (ev.task && typeof ev.task === 'object') {
      applyChange({
        kind: 'set', id, version, view: ev.task,
        created: ev.event_type === 'task.created' ? ev.timestamp : undefined,
      });
    }
  }

  // Reloads the whole list from the REST API (first load, a `reset`, a stream that had to start
  // from scratch); changes arriving meanwhile are queued and applied on top, by sequence.
  async function resync() {
    clearTimeout(resyncTimer);
    resyncTimer = null;
    if (resyncing) {
      resyncAgain = true;
      return;
    }
    const gen = generation;
    resyncing = true;
    loaded = false;
    let items;
    try {
      items = await fetchAllTasks();
    } catch (e) {
      resyncing = false;
      if (gen !== generation || !token) return;
      showListError('Could not load the tasks: ' + e.message + ' Retrying…');
      resyncTimer = setTimeout(resync, resyncDelay);
      resyncDelay = Math.min(resyncDelay * 2, MAX_BACKOFF_MS);
      return;
    }
    resyncing = false;
    if (gen !== generation) return;
    resyncDelay = MIN_BACKOFF_MS;
    showListError(null);
    // The list as it is now; a task this page already shows in a later version keeps that.
    const before = new Map(tasks);
    tasks.clear();
    for (const t of items) {
      if (gone.has(t.id)) continue;
      const cur = before.get(t.id);
      tasks.set(t.id, cur && cur.version > t.version ? cur : { ...t, created: t.created_at });
    }
    loads++;
    $('tasks').dataset.loads = String(loads);
    loaded = true;
    const queued = pending;
    pending = [];
    queued.forEach(applyChange);
    show($('list-loading'), false);
    scheduleRender();
    if (resyncAgain) {
      resyncAgain = false;
      resync();
    }
  }

  function showListError(text) {
    const node = $('list-error');
    node.textContent = text || '';
    show(node, !!text);
  }

  // ---- the task list: rendering --------------------------------------------------------------

  let renderQueued = false;
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    queueMicrotask(() => {
      renderQueued = false;
      render();
    });
  }

  const rows = new Map(); // id -> {li, version}

  function render() {
    const list = $('task-list');
    const ordered = [...tasks.values()].sort((a, b) =>
      (a.created < b.created ? 1 : a.created > b.created ? -1 : a.id < b.id ? -1 : 1));
    const keep = new Set(ordered.map((t) => t.id));
    for (const [id, row] of rows) {
      if (!keep.has(id)) {
        const hadFocus = row.li.contains(document.activeElement);
        row.li.remove();
        rows.delete(id);
        if (hadFocus) $('tasks-title').focus();
      }
    }
    ordered.forEach((task, i) => {
      let row = rows.get(task.id);
      if (!row) {
        row = { li: el('li', { className: 'task' }), version: -1 };
        rows.set(task.id, row);
      }
      if (row.version !== task.version) {
        fillRow(row.li, task);
        row.version = task.version;
      }
      if (list.children[i] !== row.li) list.insertBefore(row.li, list.children[i] || null);
    });
    const open = ordered.filter((t) => !t.completed).length;
    $('task-count').textContent = ordered.length ? `(${open} open, ${ordered.length - open} done)` : '';
    show($('list-empty'), loaded && ordered.length === 0);
  }

  function formatInstant(iso, zone) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const tz = zone || 'UTC';
    try {
      return new Intl.DateTimeFormat(undefined, {
        dateStyle: 'medium', timeStyle: 'short', timeZone: tz,
      }).format(d) + ' (' + tz + ')';
    } catch (_) {
      return d.toISOString().replace('.000Z', 'Z') + ' (UTC)';
    }
  }

  function reminderText(r, zone) {
    const channel = r.channel === 'email' ? 'by email' : r.channel === 'in_app' ? 'in the app' : String(r.channel || '');
    const before = r.before_minutes ?? r.offset_minutes;
    const when = typeof before === 'number' ? `${before} min before` : 'at ' + formatInstant(r.remind_at, zone);
    return `${when}, ${channel}`;
  }

  function fillRow(li, task) {
    const id = task.id;
    li.dataset.taskId = id;
    li.dataset.version = String(task.version);
    li.dataset.completed = String(!!task.completed);
    li.dataset.priority = task.priority || 'normal';
    li.classList.toggle('done', !!task.completed);
    const titleId = 'task-title-' + id;
    const meta = el('ul', { className: 'meta' },
      el('li', { className: 'priority priority-' + (task.priority || 'normal') }, 'Priority: ' + (task.priority || 'normal')),
      task.completed ? el('li', { className: 'state' }, 'Done') : el('li', { className: 'state' }, 'Open'),
      task.due_date ? el('li', { className: 'due' }, 'Due ',
        el('time', { datetime: task.due_date }, formatInstant(task.due_date, task.timezone))) : null,
      task.recurrence ? el('li', { className: 'recurrence' }, 'Repeats ', el('code', {}, task.recurrence)) : null,
    );
    const tags = Array.isArray(task.tags) && task.tags.length
      ? el('ul', { className: 'tags', 'aria-label': 'Tags' }, ...task.tags.map((t) => el('li', { className: 'tag' }, t)))
      : null;
    const reminders = Array.isArray(task.reminders) && task.reminders.length
      ? el('p', { className: 'reminders' },
        (task.reminders.length === 1 ? 'Reminder: ' : 'Reminders: ') +
        task.reminders.map((r) => reminderText(r, task.timezone)).join('; '))
      : null;
    const toggle = el('button', {
      type: 'button', className: 'toggle-button',
      'aria-label': (task.completed ? 'Reopen “' : 'Complete “') + task.title + '”',
    }, task.completed ? 'Reopen' : 'Complete');
    toggle.addEventListener('click', () => act(toggle, task.completed ? 'reopen' : 'complete', id));
    const del = el('button', {
      type: 'button', className: 'delete-button', 'aria-label': 'Delete “' + task.title + '”',
    }, 'Delete');
    del.addEventListener('click', () => act(del, 'delete', id));
    const hadFocus = li.contains(document.activeElement) ? document.activeElement.className : null;
    li.replaceChildren(
      el('article', { 'aria-labelledby': titleId },
        el('h3', { className: 'task-title', id: titleId }, task.title),
        meta,
        tags,
        task.description ? el('p', { className: 'description' }, task.description) : null,
        reminders,
        el('p', { className: 'row-error', role: 'alert' }),
        el('div', { className: 'actions' }, toggle, ' ', del)),
    );
    if (hadFocus) {
      const again = li.querySelector('.' + hadFocus.split(' ')[0]);
      if (again) again.focus();
    }
  }

  async function act(button, action, id) {
    const li = button.closest('li.task');
    const error = li && li.querySelector('.row-error');
    if (error) error.textContent = '';
    button.disabled = true;
    const gen = generation;
    try {
      if (action === 'delete') {
        const cur = tasks.get(id);
        await api('DELETE', '/api/tasks/' + encodeURIComponent(id));
        if (gen === generation) applyChange({ kind: 'delete', id, version: cur ? cur.version + 1 : Infinity });
      } else {
        const t = await api('POST', `/api/tasks/${encodeURIComponent(id)}/${action}`);
        if (gen === generation) applyChange(fromRest(t));
      }
    } catch (e) {
      if (e.status === 404 && gen === generation) {
        applyChange({ kind: 'delete', id, version: Infinity }); // deleted elsewhere
      } else if (error && gen === generation) {
        error.textContent = `Could not ${action} the task: ${e.message}`;
      }
    } finally {
      button.disabled = false;
    }
  }

  // ---- reminders -----------------------------------------------------------------------------

  function showReminder(ev) {
    const r = ev.reminder || {};
    const key = r.reminder_id || ev.event_id;
    if (!key || shownReminders.has(key)) return;
    shownReminders.add(key);
    const known = tasks.get(ev.task_id);
    const title = r.task_title || (known && known.title) || 'a task';
    const zone = known && known.timezone;
    const text = 'Reminder: “' + title + '”' + (r.due_date ? ', due ' + formatInstant(r.due_date, zone) : '') + '.';
    const dismiss = el('button', { type: 'button', className: 'dismiss', 'aria-label': 'Dismiss the reminder for “' + title + '”' }, 'Dismiss');
    const li = el('li', { className: 'notice', 'data-reminder-id': r.reminder_id || '', 'data-task-id': ev.task_id || '' },
      el('span', { className: 'notice-text' }, text), ' ', dismiss);
    dismiss.addEventListener('click', () => {
      li.remove();
      $('tasks-title').focus();
    });
    const list = $('notices');
    list.prepend(li);
    while (list.children.length > MAX_NOTICES) list.lastElementChild.remove();
  }

  // ---- the live stream -----------------------------------------------------------------------

  function setConnection(state, text) {
    const node = $('connection');
    if (node.dataset.state === state && node.textContent === text) return;
    node.dataset.state = state;
    node.textContent = text;
  }

  function closeStream() {
    attempt++;
    clearTimeout(retryTimer);
    retryTimer = null;
    if (source) {
      source.close();
      source = null;
    }
  }

  async function connect() {
    closeStream();
    if (!token) return;
    const gen = generation;
    const mine = attempt;
    const current = () => gen === generation && mine === attempt;
    setConnection('connecting', 'Live updates: connecting…');
    let ticket;
    try {
      const r = await fetch('/realtime/tickets', {
        method: 'POST', headers: { Authorization: 'Bearer ' + token }, cache: 'no-store',
      });
      if (!current()) return;
      if (r.status === 401) {
        signOut('The server refused the token (expired, or not valid here): sign in again.');
        return;
      }
      if (!r.ok) throw new Error('ticket: HTTP ' + r.status);
      const body = await r.json();
      ticket = body && body.ticket;
      if (typeof ticket !== 'string' || !ticket) throw new Error('ticket: none in the answer');
    } catch (_) {
      if (current()) retryLater();
      return;
    }
    if (!current()) return;
    let url = '/realtime/events?ticket=' + encodeURIComponent(ticket);
    if (lastId !== null) url += '&last_id=' + encodeURIComponent(lastId);
    const fromScratch = lastId === null;
    const es = new EventSource(url);
    source = es;
    es.onopen = () => {
      if (source !== es) return;
      openedAt = Date.now();
      setConnection('live', 'Live updates: on');
      // Without a last id nothing vouches that no change fell between the list and the
      // stream: the subscription is in place now, so load the list (again) on top of it.
      if (fromScratch) resync();
    };
    es.addEventListener('update', (m) => {
      if (source !== es) return;
      noteId(m.lastEventId);
      let ev;
      try { ev = JSON.parse(m.data); } catch (_) { return; }
      onEvent(ev);
    });
    // A fresh stream (no last id) starts with `hello`: its id is where a reconnect resumes.
    es.addEventListener('hello', (m) => {
      if (source === es) noteId(m.lastEventId);
    });
    es.addEventListener('reset', (m) => {
      if (source !== es) return;
      noteId(m.lastEventId);
      resync();
    });
    es.onerror = () => {
      if (source !== es) return;
      // Take over from the browser's own reconnect: its URL carries a ticket that is stale soon.
      es.close();
      source = null;
      retryLater();
    };
  }

  function noteId(id) {
    if (!id || !/^\d+$/.test(id)) return;
    if (lastId === null || id.length > lastId.length || (id.length === lastId.length && id > lastId)) {
      lastId = id;
      $('connection').dataset.lastId = id;
    }
  }

  function retryLater() {
    if (openedAt && Date.now() - openedAt >= HEALTHY_MS) backoff = MIN_BACKOFF_MS;
    openedAt = 0;
    const delay = backoff;
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    const seconds = delay < 1000 ? (delay / 1000).toFixed(1) : String(Math.round(delay / 1000));
    setConnection('reconnecting', navigator.onLine === false
      ? 'Live updates: offline, waiting for the network…'
      : `Live updates: reconnecting (next try in ${seconds} s)…`);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  }

  // The browser says the network is gone: a stream may linger without noticing, so drop it
  // and resume from the last id as soon as the network is back.
  window.addEventListener('offline', () => {
    if (!token) return;
    closeStream();
    retryLater(); // slowly, in case `online` never comes
  });
  window.addEventListener('online', () => {
    if (!token) return;
    backoff = MIN_BACKOFF_MS;
    connect();
  });

  // ---- the create form -----------------------------------------------------------------------

  const FIELDS = {
    title: 'f-title', description: 'f-description', priority: 'f-priority', tags: 'f-tags',
    due_date: 'f-due', timezone: 'f-timezone', recurrence: 'f-recurrence', reminders: 'f-reminder',
  };

  function clearErrors(form) {
    for (const node of form.querySelectorAll('.field-error, .form-error')) {
      node.textContent = '';
      node.hidden = true;
    }
    for (const node of form.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
  }

  // Shows `message` next to the input with id `inputId` (or above the form when null).
  function fieldError(inputId, message, formErrorId) {
    const input = inputId && $(inputId);
    const node = input ? $(inputId + '-error') : $(formErrorId);
    if (input) input.setAttribute('aria-invalid', 'true');
    node.textContent = node.textContent ? node.textContent + ' ' + message : message;
    node.hidden = false;
    return input || null;
  }

  // The input an RFC 9457 `errors[].field` (a JSON pointer into the body) is about.
  function inputFor(pointer) {
    const first = String(pointer || '').split('/')[1] || '';
    return FIELDS[first] || null;
  }

  function zoneOffsetMs(ts, zone) {
    const f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    const p = {};
    for (const part of f.formatToParts(new Date(ts))) p[part.type] = part.value;
    const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
    return wall - Math.floor(ts / 1000) * 1000;
  }

  // `YYYY-MM-DDTHH:MM[:SS]` on the wall clock of `zone` -> the UTC instant (RFC 3339).
  function wallClockToInstant(value, zone) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value);
    if (!m) return null;
    const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
    let ts = wall - zoneOffsetMs(wall, zone);
    ts = wall - zoneOffsetMs(ts, zone); // the offset at the instant itself (DST edges)
    return new Date(ts).toISOString();
  }

  function validZone(zone) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      return true;
    } catch (_) {
      return false;
    }
  }

  // The request body of the form, or null after showing what is wrong.
  function createBody(form) {
    const v = (id) => $(id).value.trim();
    const body = { title: v('f-title'), priority: $('f-priority').value };
    let ok = true;
    if (!body.title) {
      fieldError('f-title', 'Give the task a title.');
      ok = false;
    }
    const description = $('f-description').value;
    if (description.trim()) body.description = description;
    const tags = v('f-tags').split(',').map((t) => t.trim()).filter(Boolean);
    if (tags.length) body.tags = tags;
    const zone = v('f-timezone');
    if (zone) {
      if (validZone(zone)) body.timezone = zone;
      else {
        fieldError('f-timezone', `“${zone}” is not a time zone this browser knows.`);
        ok = false;
      }
    }
    const due = $('f-due').value;
    if (due && (body.timezone || !zone)) {
      const instant = wallClockToInstant(due, body.timezone || 'UTC');
      if (instant) body.due_date = instant;
      else {
        fieldError('f-due', 'Give the date and the time.');
        ok = false;
      }
    }
    const recurrence = v('f-recurrence');
    if (recurrence) body.recurrence = recurrence;
    const minutes = v('f-reminder');
    if (minutes !== '') {
      const n = Number(minutes);
      if (!Number.isInteger(n) || n < 0) {
        fieldError('f-reminder', 'Minutes: a whole number, 0 or more.');
        ok = false;
      } else {
        body.reminders = [{ before_minutes: n, channel: $('f-channel').value }];
      }
    }
    return ok ? body : null;
  }

  async function onCreate(event) {
    event.preventDefault();
    const form = event.currentTarget;
    clearErrors(form);
    $('create-status').textContent = '';
    const body = createBody(form);
    if (!body) {
      const first = form.querySelector('[aria-invalid="true"]');
      if (first) first.focus();
      return;
    }
    const submit = $('create-submit');
    submit.disabled = true;
    const gen = generation;
    try {
      const task = await api('POST', '/api/tasks', body);
      if (gen !== generation) return;
      applyChange(fromRest(task));
      const zone = $('f-timezone').value;
      form.reset();
      $('f-timezone').value = zone;
      $('create-status').textContent = `Added “${task.title}”.`;
      $('f-title').focus();
    } catch (e) {
      if (gen !== generation) return;
      let first = null;
      const errors = e.problem && Array.isArray(e.problem.errors) ? e.problem.errors : [];
      for (const err of errors) {
        const input = fieldError(inputFor(err.field), String(err.message || 'invalid'), 'create-error');
        first = first || input;
      }
      if (!errors.length) fieldError(null, 'Could not add the task: ' + e.message, 'create-error');
      (first || $('create-error')).focus();
    } finally {
      submit.disabled = false;
    }
  }

  // ---- signing in and out --------------------------------------------------------------------

  function start(jwt, claims) {
    generation++;
    token = jwt;
    tasks.clear();
    gone.clear();
    rows.clear();
    pending = [];
    loaded = false;
    resyncing = false;
    resyncAgain = false;
    lastId = null;
    delete $('connection').dataset.lastId;
    backoff = MIN_BACKOFF_MS;
    shownReminders.clear();
    $('task-list').replaceChildren();
    $('notices').replaceChildren();
    $('user-id').textContent = claims.sub;
    $('user-id').title = typeof claims.email === 'string' ? claims.email : '';
    show($('sign-in'), false);
    show($('session'), true);
    show($('board'), true);
    show($('list-loading'), true);
    show($('list-empty'), false);
    showListError(null);
    resync();
    connect();
  }

  function signOut(message) {
    generation++;
    token = null;
    closeStream();
    clearTimeout(resyncTimer);
    sessionStorage.removeItem(TOKEN_KEY);
    tasks.clear();
    rows.clear();
    $('task-list').replaceChildren();
    $('notices').replaceChildren();
    show($('board'), false);
    show($('session'), false);
    show($('sign-in'), true);
    setConnection('offline', 'Live updates: off');
    const error = $('token-error');
    error.textContent = message || '';
    show(error, !!message);
    $('token').value = '';
    $('token').focus();
  }

  function onSignIn(event) {
    event.preventDefault();
    const input = $('token');
    const jwt = cleanToken(input.value);
    const claims = jwt ? claimsOf(jwt) : new Error('Paste a token first.');
    const error = $('token-error');
    if (claims instanceof Error) {
      error.textContent = claims.message;
      show(error, true);
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    input.removeAttribute('aria-invalid');
    show(error, false);
    input.value = '';
    sessionStorage.setItem(TOKEN_KEY, jwt);
    start(jwt, claims);
    $('main').focus();
  }

  function init() {
    $('sign-in-form').addEventListener('submit', onSignIn);
    $('create-form').addEventListener('submit', onCreate);
    $('sign-out').addEventListener('click', () => signOut(null));
    const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
    const list = $('time-zones');
    for (const z of ['UTC', ...zones]) list.append(el('option', { value: z }));
    $('f-timezone').value = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    const saved = sessionStorage.getItem(TOKEN_KEY);
    const claims = saved ? claimsOf(saved) : null;
    if (saved && !(claims instanceof Error)) start(saved, claims);
    else if (saved) signOut(claims.message);
  }

  init();
})();
