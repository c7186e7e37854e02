#!/usr/bin/env bash
# Nightly backup of one campus edge gateway (东葛 dongge / 仙葫 xianhu) while it runs.
#
#   edge-backup.sh dongge
#
# 1. a consistent copy of the index (edge.sqlite with what its -wal file holds), taken with
#    SQLite's online backup API (sqlite3 ".backup"), checked with PRAGMA integrity_check;
# 2. then archive/ and superseded/ copied with rsync into a mirror on the backup mount.
#    The order matters: every image the index copy knows was in archive/ before it was indexed,
#    so the mirror taken afterwards holds them all. Files are never deleted from the mirror.
# 3. index copies older than KEEP_DAYS are deleted (the newest is always kept);
# 4. a check that every file the index copy names is in the mirror; LAST_SUCCESS is written.
# The configuration (/etc/pacs) is copied to DEST/config. Layout on the backup mount:
#   edge-CAMPUS/index/edge-YYYYMMDDTHHMMSS.sqlite   archive/   superseded/   config/   LAST_SUCCESS
#
# Settings (environment):
#   PACS_EDGE_DATA_DIR      data dir            (default /var/lib/pacs/edge/CAMPUS)
#   PACS_BACKUP_ROOT        backup mount        (default /mnt/pacs-backup)
#   PACS_BACKUP_KEEP_DAYS   days of index copies (default 14)
#   PACS_BACKUP_REQUIRE_MOUNT  1 = refuse unless PACS_BACKUP_ROOT is a mount point (default 1)
#   PACS_CONFIG_DIR         configuration copied too (default /etc/pacs)
#   PACS_USER               user that owns the data dir (default pacs); when started as root
#                           the script runs itself again as that user, so no file in the
#                           data dir ever becomes root's
#
# Exit status 0 = backup complete; anything else = failed (the message says why).
set -euo pipefail
umask 027   # copies hold patient data: no access for others

usage() { echo "usage: $0 dongge|xianhu" >&2; exit 2; }
[ $# -eq 1 ] || usage
CAMPUS="$1"
case "$CAMPUS" in dongge|xianhu) ;; *) usage ;; esac

PACS_USER="${PACS_USER:-pacs}"
if [ "$(id -u)" -eq 0 ] && [ "$PACS_USER" != root ]; then
    exec runuser -u "$PACS_USER" -- bash "$(readlink -f "$0")" "$@"
fi

DATA_DIR="${PACS_EDGE_DATA_DIR:-/var/lib/pacs/edge/$CAMPUS}"
BACKUP_ROOT="${PACS_BACKUP_ROOT:-/mnt/pacs-backup}"
KEEP_DAYS="${PACS_BACKUP_KEEP_DAYS:-14}"
REQUIRE_MOUNT="${PACS_BACKUP_REQUIRE_MOUNT:-1}"
CONFIG_DIR="${PACS_CONFIG_DIR:-/etc/pacs}"
DEST="$BACKUP_ROOT/edge-$CAMPUS"
STAMP="$(date +%Y%m%dT%H%M%S)"

log() { echo "edge-backup[$CAMPUS] $(date '+%F %T') $*"; }
fail() { log "FAILED: $*" >&2; exit 1; }

command -v sqlite3 >/dev/null || fail "sqlite3 not found: apt-get install sqlite3"
command -v rsync >/dev/null || fail "rsync not found: apt-get install rsync"
[ -f "$DATA_DIR/edge.sqlite" ] || fail "no index at $DATA_DIR/edge.sqlite (wrong campus or PACS_EDGE_DATA_DIR?)"
if [ "$REQUIRE_MOUNT" = 1 ] && ! mountpoint -q "$BACKUP_ROOT"; then
    fail "$BACKUP_ROOT is not mounted: mount the backup disk (the backup would fill the local disk)"
fi
mkdir -p "$DEST/index" "$DEST/archive" "$DEST/superseded" || fail "cannot create $DEST (owner must be $PACS_USER)"

# One backup at a time per campus.
exec 9>"$DEST/.lock"
flock -n 9 || fail "another backup of $CAMPUS is still running"

# 1. The index, consistent, while the gateway writes (never cp a live SQLite file).
part="$DEST/index/edge-$STAMP.sqlite.part"
final="$DEST/index/edge-$STAMP.sqlite"
log "index: $DATA_DIR/edge.sqlite -> $final"
sqlite3 -bail -cmd ".timeout 60000" "$DATA_DIR/edge.sqlite" ".backup '$part'" \
    || { rm -f "$part"; fail "sqlite3 .backup of the index failed"; }
check="$(sqlite3 "$part" 'PRAGMA integrity_check;')"
[ "$check" = ok ] || { rm -f "$part"; fail "the index copy is damaged: $check"; }
mv "$part" "$final"
instances="$(sqlite3 "$final" 'SELECT count(*) FROM instance;')"
log "index: ok, $instances instance(s)"

# 2. The files, after the index copy. Mirror without --delete: the gateway never deletes an
#    archived file (a replaced version goes to superseded/), so the mirror is a superset.
#    rsync status 24 ("some files vanished") is normal: a replaced file moved to superseded/.
for dir in archive superseded; do
    log "$dir: rsync to $DEST/$dir"
    rc=0
    stats="$(rsync -a --stats "$DATA_DIR/$dir/" "$DEST/$dir/" 2>&1)" || rc=$?
    case "$rc" in
        0|24) ;;
        *) fail "rsync of $dir/ failed with status $rc: $(printf '%s\n' "$stats" | tail -n 3)" ;;
    esac
    printf '%s\n' "$stats" | sed -n -e 's/^Number of regular files transferred: /  files copied: /p' \
        -e 's/^Total transferred file size: /  bytes copied: /p'
done

# The configuration (env and peers files) is small: keep a copy beside the data.
if [ -r "$CONFIG_DIR" ] && [ -x "$CONFIG_DIR" ]; then
    rsync -a "$CONFIG_DIR/" "$DEST/config/" || fail "rsync of $CONFIG_DIR failed"
else
    log "warning: cannot read $CONFIG_DIR; configuration not copied"
fi

# 3. Retention of index copies (the newest one always stays).
find "$DEST/index" -maxdepth 1 -name 'edge-*.sqlite' -mtime +"$KEEP_DAYS" \
    ! -name "$(basename "$final")" -print -delete | sed 's/^/  deleted old index copy: /'
find "$DEST/index" -maxdepth 1 -name 'edge-*.sqlite.part' -mtime +1 -delete

# 4. Every file the index copy names must be in the mirror.
missing="$(sqlite3 "$final" 'SELECT rel_path FROM instance;' | while IFS= read -r rel; do
    [ -f "$DEST/archive/$rel" ] || echo "$rel"
done | wc -l)"
[ "$missing" -eq 0 ] || fail "$missing file(s) named by the index are missing from $DEST/archive"

printf 'time=%s\nindex=%s\ninstances=%s\n' "$STAMP" "$final" "$instances" > "$DEST/LAST_SUCCESS.part"
mv "$DEST/LAST_SUCCESS.part" "$DEST/LAST_SUCCESS"
log "done: $instances instance(s); index copy $final"
