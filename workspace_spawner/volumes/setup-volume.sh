# setup-volume: fill, reset or sync a workspace volume from the notebook image's files.
#
# Runs in the pod's init container, from the notebook image, as the notebook user
# (POSIX sh, coreutils and find; no rsync, which Jupyter images lack). workspace-spawner
# passes this script inline (`sh -c SCRIPT setup-volume`) and all settings as
# environment variables:
#
#   WORKSPACE_SOURCE          the image's files to copy (empty: never copy)
#   WORKSPACE_TARGET          the directory on the volume the notebook sees at its mount path
#   WORKSPACE_RESET_MARKER    file name that asks for a reset (empty: disabled)
#   WORKSPACE_SYNC_MARKER     file name that asks for a sync (empty: disabled)
#   WORKSPACE_SYNC            "1": sync at every start
#   WORKSPACE_BACKUP          "1": keep the old content of a reset in a backup
#   WORKSPACE_BACKUPS_KEEP    how many backups to keep (0: no limit)
#   WORKSPACE_BACKUP_DIR      name of the backups directory inside the target
#   WORKSPACE_RESET_REQUEST   an admin's reset request (the PVC annotation's value), or empty
#   WORKSPACE_RESET_REQUEST_BACKUP  "true"/"false"/"": backup choice of that request
#   WORKSPACE_SNAPSHOT_BEFORE_RESET "1": a reset needs a snapshot first (exit 3 without)
#   WORKSPACE_SNAPSHOT_TAKEN  the VolumeSnapshot the spawner took for this reset, or empty;
#                             "-": none could be taken, so no reset at this start
#
# Rules (the user's files are never lost without a reset request):
# - Nothing that exists in the target is deleted or overwritten, except by a reset.
# - Symbolic links in the volume are never followed: existence is tested with -L as
#   well as -e, descending only into real directories; rm -rf removes a link, not
#   its target; no chown or chmod outside our own temporary directory.
# - The copy goes into .setup-volume/tree on the volume and is moved into place by
#   renames only once complete (.setup-volume/copied); an interrupted copy is thrown
#   away and redone, an interrupted move is finished.
# - A reset is recorded in .setup-volume/reset before anything is touched, so an
#   interrupted reset resumes instead of leaving half a volume behind.
# Output: a few lines, and one summary line (files, bytes, seconds), which is also
# the container's termination message that the spawner shows on the spawn page; the
# termination message has one more line, the volume's usage (statfs), for the spawner.

set -eu
umask 0007

T=${WORKSPACE_TARGET:?WORKSPACE_TARGET is not set}
SRC=${WORKSPACE_SOURCE:-}
RESET_MARKER=${WORKSPACE_RESET_MARKER:-}
SYNC_MARKER=${WORKSPACE_SYNC_MARKER:-}
BACKUP_DIR=${WORKSPACE_BACKUP_DIR:-.volume-backups}
KEEP=${WORKSPACE_BACKUPS_KEEP:-0}
REQUEST=${WORKSPACE_RESET_REQUEST:-}
STATE_NAME=.setup-volume
S=$T/$STATE_NAME
TERMINATION_LOG=${WORKSPACE_TERMINATION_LOG:-/dev/termination-log}

say() { printf 'setup-volume: %s\n' "$*"; }
fail() { say "ERROR: $*" >&2; report "ERROR: $*"; exit 1; }
report() { printf '%s\n' "$*" > "$TERMINATION_LOG" 2>/dev/null || true; }
exists() { [ -e "$1" ] || [ -L "$1" ]; }
realdir() { [ -d "$1" ] && [ ! -L "$1" ]; }

# Move every top-level entry of the target that is the user's content (everything
# but lost+found and our own two directories) into directory $1, by renames. find
# passes the names, so any character in them is safe. Renaming a directory to a
# new parent needs write permission on it (rename(2) updates its ".."), so a
# read-only directory is made writable for the move and gets its mode back after.
MOVE_ENTRY='
src=$1 dest=$2/${1##*/}
if [ -d "$src" ] && [ ! -L "$src" ] && [ ! -w "$src" ]; then
    mode=$(stat -c %a "$src")
    chmod u+w "$src" && mv -T -- "$src" "$dest" && chmod "$mode" "$dest"
else
    mv -T -- "$src" "$dest"
fi'
move_entries_to() {
    find "$T" -mindepth 1 -maxdepth 1 \
        ! -name lost+found ! -name "$STATE_NAME" ! -name "$BACKUP_DIR" \
        -exec sh -c "$MOVE_ENTRY" setup-volume-move {} "$1" \;
    # find does not fail when a command it ran did: check that nothing was left behind
    is_empty || fail "could not move everything in $T aside (see the messages above); nothing was deleted"
}

is_empty() {
    [ -z "$(find "$T" -mindepth 1 -maxdepth 1 \
        ! -name lost+found ! -name "$STATE_NAME" ! -name "$BACKUP_DIR" | head -n 1)" ]
}

# Make the real directories under $1 writable, so rm -rf can empty them (copies keep
# the image's modes, and users make read-only directories). find -type d never
# matches or follows a symbolic link, so nothing outside the volume is touched.
make_removable() {
    find "$1" -type d ! -perm -u+w -exec chmod u+w {} + 2>/dev/null || true
}

remove_tree() {
    make_removable "$1"
    rm -rf -- "$1"
}

# Merge directory $1 (our copy) into $2 (the volume) without overwriting anything:
# an entry missing in $2 is renamed into place whole; a directory present in both as
# a real directory is merged recursively; anything else in $2 (a file, a symlink, a
# symlink to a directory) is left alone and the image's version is dropped. What
# cannot be placed (a user's read-only directory) is counted in $skipped, not fatal:
# a failure here would fail every later start too.
skipped=0
merge() {
    for src in "$1"/* "$1"/.[!.]* "$1"/..?*; do
        exists "$src" || continue
        name=${src##*/}
        dst=$2/$name
        if ! exists "$dst"; then
            # a rename; a read-only directory cannot be renamed to a new parent
            # (rename(2) needs to update its ".."), so it is copied instead
            if ! { mv -- "$src" "$dst" 2>/dev/null || cp -a -- "$src" "$dst"; }; then
                skipped=$((skipped + 1))
            fi
        elif realdir "$dst" && realdir "$src"; then
            merge "$src" "$dst"
        fi
    done
}

# counted in batches of names, so a name with a newline counts once
count_files() {
    find "$1" ! -type d -exec sh -c 'echo $#' setup-volume-count {} + |
        awk '{ n += $1 } END { print n + 0 }'
}
count_bytes() {
    du -sb "$1" 2>/dev/null | cut -f1 || echo 0
}

now() { date +%s; }

# Write a small state file without following a link the user may have put in its
# place: a new file, renamed over the old name (-T: never into a directory).
write_state() {
    rm -f -- "$1.new"
    printf '%s\n' "$2" > "$1.new"
    mv -fT -- "$1.new" "$1"
}

# -- checks -----------------------------------------------------------------------------

if [ -L "$T" ]; then
    fail "$T is a symbolic link; refusing to touch it"
fi
mkdir -p -- "$T"
if exists "$S" && ! realdir "$S"; then
    # a user-made link or file in place of our state directory: kept, under another name
    say "moving $STATE_NAME aside: it is not a directory"
    mv -T -- "$S" "$S.moved-aside.$(now)"
fi
mkdir -p -- "$S"
# our state is never a link: one planted there is removed (the link, not its target),
# so no state file is read or written through it
for f in reset copied reset-request-done tree trash backup-dir-entry; do
    if [ -L "$S/$f" ]; then
        rm -f -- "$S/$f"
    fi
done
if [ -n "$SRC" ] && ! realdir "$SRC"; then
    fail "the populate source $SRC is not a directory in the image"
fi

if exists "$S/trash"; then
    remove_tree "$S/trash"
fi

started=$(now)
summary=""
action=""

# -- reset ------------------------------------------------------------------------------

reset_why=""
backup=${WORKSPACE_BACKUP:-0}
if exists "$S/reset"; then
    reset_why="resuming an interrupted reset"
elif [ -n "$RESET_MARKER" ] && exists "$T/$RESET_MARKER"; then
    reset_why="$RESET_MARKER was found"
elif [ -n "$REQUEST" ] && [ "$(cat "$S/reset-request-done" 2>/dev/null || true)" != "$REQUEST" ]; then
    reset_why="an administrator asked for it"
    case "${WORKSPACE_RESET_REQUEST_BACKUP:-}" in
        true) backup=1 ;;
        false) backup=0 ;;
    esac
fi

# With volume_snapshot_class the spawner snapshots the volume before any reset: a new
# reset without a snapshot taken changes nothing here and asks for one (an interrupted
# reset resumes: its snapshot was taken before it began).
if [ -n "$reset_why" ] && ! exists "$S/reset" && [ "${WORKSPACE_SNAPSHOT_BEFORE_RESET:-}" = 1 ] \
        && [ -z "${WORKSPACE_SNAPSHOT_TAKEN:-}" ]; then
    say "a snapshot of the volume comes first ($reset_why): nothing was changed"
    report "workspace-spawner-snapshot-needed: $reset_why"
    exit 3
fi
if [ -n "$reset_why" ] && ! exists "$S/reset" && [ "${WORKSPACE_SNAPSHOT_TAKEN:-}" = - ]; then
    # the spawner could not take the snapshot: no reset this time, the marker stays
    say "no reset at this start ($reset_why): the snapshot before it could not be taken"
    reset_why=""
    REQUEST=""
elif [ -n "$reset_why" ] && [ -n "${WORKSPACE_SNAPSHOT_TAKEN:-}" ]; then
    say "the volume as it was is in the snapshot ${WORKSPACE_SNAPSHOT_TAKEN}"
fi

if [ -n "$reset_why" ]; then
    if ! exists "$S/reset"; then
        if [ "$backup" = 1 ]; then
            write_state "$S/reset" "reset-$(date -u +%Y%m%dT%H%M%SZ)"
        else
            write_state "$S/reset" ""
        fi
    fi
    # the marker goes first so that it does not end up in the backup
    if [ -n "$RESET_MARKER" ] && exists "$T/$RESET_MARKER"; then
        rm -f -- "$T/$RESET_MARKER"
    fi
    backup_name=$(cat -- "$S/reset")
    case "$backup_name" in
        "" | reset-????????T??????Z) ;;
        *) backup_name="reset-$(date -u +%Y%m%dT%H%M%SZ)" ;;
    esac
    if [ -n "$backup_name" ]; then
        if exists "$T/$BACKUP_DIR" && ! realdir "$T/$BACKUP_DIR"; then
            # a link or file named like the backups directory is the user's content:
            # it moves into the backup like everything else, through a fresh name
            mv -T -- "$T/$BACKUP_DIR" "$S/backup-dir-entry"
        fi
        mkdir -p -- "$T/$BACKUP_DIR"
        if ! realdir "$T/$BACKUP_DIR"; then
            fail "$T/$BACKUP_DIR is not a directory"
        fi
        # mkdir without -p fails on anything already there, links included
        realdir "$T/$BACKUP_DIR/$backup_name" || mkdir -- "$T/$BACKUP_DIR/$backup_name"
        move_entries_to "$T/$BACKUP_DIR/$backup_name"
        if exists "$S/backup-dir-entry"; then
            mv -T -- "$S/backup-dir-entry" "$T/$BACKUP_DIR/$backup_name/$BACKUP_DIR"
        fi
        say "Resetting the volume: $reset_why; the old content is in $BACKUP_DIR/$backup_name"
    else
        # moved aside first (renames), then deleted as our own tree: an interrupted
        # wipe is finished at the next start
        mkdir -p -- "$S/trash"
        move_entries_to "$S/trash"
        remove_tree "$S/trash"
        say "Resetting the volume: $reset_why; the old content was deleted"
    fi
    # a copy left over from before the reset is stale
    remove_tree "$S/tree"
    rm -f -- "$S/copied"
    action="Resetting the volume: $reset_why"
fi

# -- copy -------------------------------------------------------------------------------

sync_why=""
if [ "${WORKSPACE_SYNC:-0}" = 1 ]; then
    sync_why="volume_sync is on"
elif [ -n "$SYNC_MARKER" ] && exists "$T/$SYNC_MARKER"; then
    sync_why="$SYNC_MARKER was found"
fi

if [ -n "$SRC" ]; then
    if exists "$S/copied" && realdir "$S/tree"; then
        say "finishing an interrupted move of a complete copy"
        merge "$S/tree" "$T"
        remove_tree "$S/tree"
        rm -f -- "$S/copied"
    fi
    if [ -n "$action" ] || [ -n "$sync_why" ] || is_empty; then
        if [ -z "$action" ]; then
            if [ -n "$sync_why" ]; then
                action="Syncing new files from the image: $sync_why"
            else
                action="Copying the image's files into the new volume"
            fi
            say "$action"
        fi
        if exists "$S/tree"; then
            say "throwing away an interrupted copy"
            remove_tree "$S/tree"
        fi
        rm -f -- "$S/copied"
        mkdir -- "$S/tree"
        # cp -a keeps modes, timestamps and symbolic links (as links); ownership
        # cannot be kept by a non-root user and becomes the notebook user's
        unreadable=""
        if ! cp -a -- "$SRC/." "$S/tree/"; then
            unreadable=" (some of the image's files could not be read: see the log of the setup-volume init container)"
        fi
        files=$(count_files "$S/tree")
        bytes=$(count_bytes "$S/tree")
        write_state "$S/copied" "$files"
        merge "$S/tree" "$T"
        remove_tree "$S/tree"
        rm -f -- "$S/copied"
        if [ "$skipped" -gt 0 ]; then
            unreadable="$unreadable ($skipped could not be placed in the volume: see the log of the setup-volume init container)"
        fi
        summary="$action: $files files, $bytes bytes from $SRC in $(( $(now) - started )) s$unreadable"
    fi
    if [ -n "$SYNC_MARKER" ] && [ -n "$sync_why" ] && exists "$T/$SYNC_MARKER"; then
        rm -f -- "$T/$SYNC_MARKER"
    fi
fi

# -- finish -----------------------------------------------------------------------------

if exists "$S/reset"; then
    if [ -n "$REQUEST" ]; then
        write_state "$S/reset-request-done" "$REQUEST"
    fi
    rm -f -- "$S/reset"
    if [ -z "$summary" ]; then
        summary="$action: the volume is empty (no populate source)"
    fi
fi
if [ -n "$REQUEST" ] && ! exists "$S/reset-request-done"; then
    write_state "$S/reset-request-done" "$REQUEST"
fi

# keep the newest $KEEP backups this script made; other entries are the user's
if [ "$KEEP" -gt 0 ] 2>/dev/null && realdir "$T/$BACKUP_DIR"; then
    find "$T/$BACKUP_DIR" -mindepth 1 -maxdepth 1 -name 'reset-????????T??????Z' \
        | sort -r | tail -n +"$((KEEP + 1))" | while IFS= read -r old; do
            say "removing the old backup ${old##*/} (volume_reset_backups_keep=$KEEP)"
            remove_tree "$old"
        done
fi

if [ -z "$summary" ]; then
    summary="The volume is ready; nothing to copy"
fi
if [ -n "$REQUEST" ]; then
    summary="$summary [reset request $REQUEST done]"
fi
say "$summary"
report "$summary"

# -- usage ------------------------------------------------------------------------------
# The file system's size and use from statfs(2) (stat -f: the file system's own
# counters, not a walk of the tree), as a line of the termination message the spawner
# stores on the claim: fundamental block size, total, free and (for non-root)
# available blocks. Not fatal: a volume is usable without it.
if usage=$(stat -f -c '%S %b %f %a' -- "$T" 2>/dev/null); then
    set -- $usage
    if [ "$#" = 4 ]; then
        printf 'workspace-spawner-usage: size=%s used=%s available=%s\n' \
            "$(($1 * $2))" "$(($1 * ($2 - $3)))" "$(($1 * $4))" >> "$TERMINATION_LOG" 2>/dev/null || true
    fi
fi
