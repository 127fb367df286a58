#!/usr/bin/env bash
# The project's images for the one-node cluster (`cluster.sh up --node`), without a Docker engine
# and without any registry outside the machine, pushed to the node's local registry:
#
#   todo-events   the Spin app: the real `spin registry push --insecure` of spin.toml (Spin 4.0.2,
#                 ../shared/bin, unpacked by tools/devstack/setup.sh into ~/.cache/todo-events/bin)
#   todo-migrate  what deploy/images/migrate.Dockerfile makes: todo-migrate (built by setup.sh,
#                 migrations/ compiled in) at /usr/local/bin, its shared libraries, user 65532
#   todo-pushpin  what deploy/images/pushpin.Dockerfile makes: Debian bookworm's pushpin, condure
#                 and zurl (installed on this machine by tools/pushpin/pushpin.sh install), their
#                 shared libraries, a shell and sed from Debian's busybox-static, user 10001
#
# Each container image is one layer (a tarball of a folder, crane append on an empty base) with its
# entrypoint/user set by crane mutate, tagged with the layer's own hash, so a pod never runs a stale
# image under an old tag. Writes the three references to $K8S_RUN/app-images.env (and prints them):
#   TODO_APP_IMAGE=10.244.0.1:25000/todo-events@sha256:...  TODO_MIGRATE_IMAGE=...  TODO_PUSHPIN_IMAGE=...
#
# Usage: tools/k8s/app-images.sh      (the node must be up: cluster.sh up --node)
# Environment: K8S_RUN (~/.cache/todo-events/run/k8s-node), TODO_MIGRATE_BIN (default: the newest
# of ~/.cache/todo-events/target/{release,debug}/todo-migrate), SPIN (default: spin on PATH, else
# ~/.cache/todo-events/bin/spin).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${TODO_EVENTS_CACHE:-$HOME/.cache/todo-events}"
BIN="$CACHE/bin"
RUN="${K8S_RUN:-$CACHE/run/k8s-node}"
OUT="$RUN/app-images.env"
WORK="$RUN/images/app"

say() { echo "app-images: $*"; }
die() {
    echo "app-images: ERROR: $*" >&2
    exit 1
}

[ -f "$RUN/cluster.env" ] || die "no $RUN/cluster.env: bring the node up first (tools/k8s/cluster.sh up --node)"
# shellcheck disable=SC1091
. "$RUN/cluster.env"
REGISTRY="10.244.0.1:${REGISTRY_PORT:?}" # the node's address (tools/k8s/node.sh)
curl -fsS -o /dev/null --max-time 5 "http://$REGISTRY/v2/" || die "the node's registry does not answer at http://$REGISTRY/v2/"
[ -x "$BIN/crane" ] || die "no $BIN/crane (tools/k8s/build.sh crane)"

SPIN="${SPIN:-$(command -v spin || echo "$BIN/spin")}"
[ -x "$SPIN" ] || die "no Spin CLI ($SPIN): tools/devstack/setup.sh unpacks Spin 4.0.2 from ../shared/bin"
MIGRATE="${TODO_MIGRATE_BIN:-$(ls -t "$CACHE"/target/release/todo-migrate "$CACHE"/target/debug/todo-migrate 2>/dev/null | head -n1 || true)}"
[ -n "$MIGRATE" ] && [ -x "$MIGRATE" ] || die "no todo-migrate binary (tools/devstack/setup.sh builds it: cargo build -p todo-migrate)"

# Copies each ELF program and the shared libraries it loads (ldd) into the folder $1, same paths.
with_libraries() { # $1 rootfs, then programs
    local root="$1" f lib
    shift
    for f in "$@"; do
        mkdir -p "$root$(dirname "$f")"
        cp -L "$f" "$root$f"
        if file -L "$f" | grep -q 'dynamically linked'; then
            for lib in $(ldd "$f" | grep -o '/[^ ]*' | sort -u); do
                [ -e "$root$lib" ] && continue
                mkdir -p "$root$(dirname "$lib")"
                cp -L "$lib" "$root$lib"
            done
        fi
    done
}

# One layer from a folder, pushed as <registry>/<name>:<hash of the layer>; prints the reference.
push_folder() { # $1 name, $2 folder, $3 entrypoint ("" for none), $4 user
    local name="$1" dir="$2" entrypoint="$3" user="$4" tar tag ref args=()
    tar="$WORK/$name.tar"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$dir" -cf "$tar" .
    tag="l-$(sha256sum "$tar" | cut -c1-16)"
    ref="$REGISTRY/$name:$tag"
    if ! "$BIN/crane" digest --insecure "$ref" >/dev/null 2>&1; then
        "$BIN/crane" append --insecure --oci-empty-base -f "$tar" -t "$ref" >/dev/null 2>>"$WORK/../app-crane.log" ||
            die "crane append $ref failed"
        args=(--set-platform linux/amd64 --user "$user")
        [ -n "$entrypoint" ] && args+=(--entrypoint "$entrypoint")
        "$BIN/crane" mutate --insecure "${args[@]}" -t "$ref" "$ref" >/dev/null 2>>"$WORK/../app-crane.log" || die "crane mutate $ref failed"
        say "pushed $ref" >&2
    fi
    rm -f "$tar"
    echo "$ref"
}

passwd_files() { # $1 rootfs, $2 user name, $3 uid
    mkdir -p "$1/etc" "$1/tmp"
    chmod 1777 "$1/tmp"
    printf 'root:x:0:0:root:/root:/sbin/nologin\n%s:x:%s:%s::/nonexistent:/sbin/nologin\n' "$2" "$3" "$3" >"$1/etc/passwd"
    printf 'root:x:0:\n%s:x:%s:\n' "$2" "$3" >"$1/etc/group"
}

rm -rf "$WORK"
mkdir -p "$WORK"

# todo-migrate
dir="$WORK/migrate"
mkdir -p "$dir/usr/local/bin"
install -m 0755 "$MIGRATE" "$dir/usr/local/bin/todo-migrate"
for lib in $(ldd "$MIGRATE" | grep -o '/[^ ]*' | sort -u); do # glibc, libgcc_s (rustls: no libssl)
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
done
passwd_files "$dir" nonroot 65532
MIGRATE_IMAGE="$(push_folder todo-migrate "$dir" /usr/local/bin/todo-migrate 65532:65532)"

# todo-pushpin
command -v pushpin >/dev/null || die "pushpin is not installed (tools/pushpin/pushpin.sh install)"
[ -x /bin/busybox ] || die "no /bin/busybox (Debian's busybox-static: tools/k8s/build.sh node installs it)"
file -L /bin/busybox | grep -q 'statically linked' || die "/bin/busybox is not the static one (busybox-static)"
dir="$WORK/pushpin"
mkdir -p "$dir/bin"
files=()
while read -r f; do
    [ -f "$f" ] && files+=("$f")
done < <(dpkg -L pushpin condure zurl | grep -E '^/usr/(bin|lib)/')
with_libraries "$dir" "${files[@]}"
cp /bin/busybox "$dir/bin/busybox"
for applet in sh mkdir sed cat ls; do ln -sf busybox "$dir/bin/$applet"; done
passwd_files "$dir" todo-pushpin 10001
PUSHPIN_IMAGE="$(push_folder todo-pushpin "$dir" "" 10001:10001)"

# the Spin app: spin.toml's .wasm files (tools/devstack/setup.sh build, or spin build)
(cd "$ROOT" && "$SPIN" registry push --insecure "$REGISTRY/todo-events:cluster" >"$WORK/spin-push.log" 2>&1) ||
    die "spin registry push failed: $(tail -n 5 "$WORK/spin-push.log")"
digest="$(grep -o 'sha256:[0-9a-f]\{64\}' "$WORK/spin-push.log" | tail -n1)"
[ -n "$digest" ] || digest="$("$BIN/crane" digest --insecure "$REGISTRY/todo-events:cluster")"
APP_IMAGE="$REGISTRY/todo-events@$digest"

cat >"$OUT" <<EOF
TODO_APP_IMAGE=$APP_IMAGE
TODO_MIGRATE_IMAGE=$MIGRATE_IMAGE
TODO_PUSHPIN_IMAGE=$PUSHPIN_IMAGE
EOF
rm -rf "$WORK"
cat "$OUT"
