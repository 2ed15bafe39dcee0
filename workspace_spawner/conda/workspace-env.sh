# shellcheck shell=sh
# workspace-spawner: use the persistent conda environment, keep pip --user installs.
#
# One script, four ways in (POSIX sh: dash, bash, busybox ash):
#
#   . workspace-env.sh                  hook: docker-stacks' run-hooks.sh *sources* the
#                                       files in /usr/local/bin/before-notebook.d, so the
#                                       activation carries into the server it then execs
#   sh workspace-env.sh --exec CMD...   wrap: activate, then exec CMD
#   sh workspace-env.sh --check         init container: write the env's state to the
#                                       termination message, which the spawner reads
#   sh workspace-env.sh --create        init container: clone base into the env (opt-in)
#
# Sourced, it must leave the caller alone: docker-stacks' start.sh runs under `set -e`,
# so nothing here may fail unguarded (the body runs as `_wsc_main || true`, which
# switches errexit off inside it), it never calls `exit`, it keeps its variables
# local and removes its functions afterwards. What it changes on purpose: PATH, the
# conda activation variables (CONDA_PREFIX, ...) and PYTHONUSERBASE.
#
# Settings, from the pod's environment (set by the spawner):
#   WORKSPACE_CONDA_ENVS_DIR   the persistent envs dir; "{home}" stands for $HOME
#   WORKSPACE_CONDA_ENV_NAME   the env's name (default "workspace")
#   WORKSPACE_SERVER_COMMAND   the program that must be in the env's bin for it to be
#                              used (default "jupyterhub-singleuser")
#   WORKSPACE_PIP_USER_BASE    PYTHONUSERBASE to set ("{home}" as above); unset: leave it
#   WORKSPACE_CONDA_MESSAGE_FILE       where --check/--create write their one-line verdict
#                                      (the container's terminationMessagePath)
#   WORKSPACE_CONDA_CREATE_MIN_MEMORY  --create refuses below this memory limit (bytes)

_wsc_log() {
    echo "workspace-env: $*" >&2
}

# The verdict for the spawner: one line "<state>: <text>" in the termination message
# (https://kubernetes.io/docs/tasks/debug/debug-application/determine-reason-pod-failure/).
_wsc_verdict() {
    _wsc_log "$2"
    if [ -n "${WORKSPACE_CONDA_MESSAGE_FILE-}" ]; then
        printf '%s: %s\n' "$1" "$2" >"$WORKSPACE_CONDA_MESSAGE_FILE" 2>/dev/null ||
            _wsc_log "cannot write $WORKSPACE_CONDA_MESSAGE_FILE"
    fi
}

# Replace every "{home}" in $1 by $HOME.
_wsc_expand() {
    local rest out
    rest=$1
    out=
    while :; do
        case "$rest" in
            *"{home}"*)
                out="$out${rest%%\{home\}*}$HOME"
                rest=${rest#*\{home\}}
                ;;
            *)
                printf '%s\n' "$out$rest"
                return 0
                ;;
        esac
    done
}

_wsc_find_conda() {
    if [ -n "${CONDA_EXE-}" ] && [ -x "$CONDA_EXE" ]; then
        printf '%s\n' "$CONDA_EXE"
    elif command -v conda >/dev/null 2>&1; then
        command -v conda
    elif [ -x "${CONDA_DIR:-/opt/conda}/bin/conda" ]; then
        printf '%s\n' "${CONDA_DIR:-/opt/conda}/bin/conda"
    else
        return 1
    fi
}

# The env's state: none | half-made | no-server | good.
# A conda env is a directory with conda-meta/history
# (https://github.com/conda/ceps, "Management and structure of conda environments");
# conda creates the file empty when a transaction begins and writes its "==> date <=="
# block when it ends, so an empty history is an interrupted create. Our own clone
# leaves a ".creating" marker next to the env until it is complete.
_wsc_state() {
    local prefix program
    prefix=$1
    program=$2
    if [ ! -e "$prefix" ]; then
        echo none
    elif [ -e "$prefix.creating" ] || [ ! -f "$prefix/conda-meta/history" ] ||
        ! grep -q '^==> ' "$prefix/conda-meta/history" 2>/dev/null; then
        echo half-made
    elif [ ! -x "$prefix/bin/$program" ]; then
        echo no-server
    else
        echo good
    fi
}

# Set the caller's (local) envs_dir, name, program, prefix and state from the settings.
_wsc_settings() {
    envs_dir=$(_wsc_expand "$WORKSPACE_CONDA_ENVS_DIR")
    name=${WORKSPACE_CONDA_ENV_NAME:-workspace}
    program=${WORKSPACE_SERVER_COMMAND:-jupyterhub-singleuser}
    prefix="$envs_dir/$name"
    state=$(_wsc_state "$prefix" "$program")
}

_wsc_repair_hint() {
    printf '%s' "Created without --clone base? Repair it with: conda install -n $1 jupyterhub-singleuser (add the packages your server needs), or remove it with: conda env remove -n $1 (then restart your server)"
}

# Add the envs dir to ~/.condarc with conda's own command, so the user's other settings
# survive. `--prepend` because conda creates named envs in the first writable entry; we
# only call it when the entry is missing, since conda would move an existing one to the
# top (https://docs.conda.io/projects/conda/en/latest/commands/config.html).
_wsc_condarc() {
    local conda envs_dir rc
    conda=$1
    envs_dir=$2
    rc="$HOME/.condarc"
    if [ -f "$rc" ] && "$conda" config --file "$rc" --get envs_dirs 2>/dev/null |
        grep -F -q -e "'$envs_dir'" -e "\"$envs_dir\""; then
        return 0
    fi
    if "$conda" config --file "$rc" --prepend envs_dirs "$envs_dir" >/dev/null 2>&1; then
        _wsc_log "added $envs_dir to envs_dirs in $rc"
    else
        _wsc_log "could not add $envs_dir to envs_dirs in $rc; conda create -n will not put envs there"
    fi
}

# Put the settings of this script in the caller's environment (hook and wrap).
_wsc_activate() {
    local conda envs_dir name program prefix state userbase activation
    if [ -n "${WORKSPACE_PIP_USER_BASE-}" ]; then
        userbase=$(_wsc_expand "$WORKSPACE_PIP_USER_BASE")
        PYTHONUSERBASE=$userbase
        export PYTHONUSERBASE
        case ":$PATH:" in
            *":$userbase/bin:"*) ;;
            *) PATH="$userbase/bin:$PATH" ;;
        esac
        export PATH
    fi
    [ -n "${WORKSPACE_CONDA_ENVS_DIR-}" ] || return 0
    if ! conda=$(_wsc_find_conda); then
        _wsc_log "no conda in this image: starting without the persistent conda environment"
        return 0
    fi
    _wsc_settings
    _wsc_condarc "$conda" "$envs_dir"
    case "$state" in
        none)
            _wsc_log "no environment $prefix: using the image's base environment"
            ;;
        good)
            # `conda shell.posix activate` prints the shell code conda activate runs,
            # activate.d scripts included, for any POSIX shell.
            if activation=$("$conda" shell.posix activate "$prefix") && eval "$activation"; then
                _wsc_log "activated the persistent conda environment '$name' ($prefix)"
            else
                _wsc_log "could not activate $prefix: using the image's base environment"
            fi
            ;;
        half-made)
            _wsc_log "WARNING: the environment '$name' ($prefix) is incomplete (its creation was interrupted): starting from the base environment. $(_wsc_repair_hint "$name")"
            ;;
        no-server)
            _wsc_log "WARNING: the environment '$name' ($prefix) has no $program, which starts your server: starting from the base environment. $(_wsc_repair_hint "$name")"
            ;;
    esac
}

_wsc_check() {
    local conda envs_dir name program prefix state
    if [ -z "${WORKSPACE_CONDA_ENVS_DIR-}" ]; then
        return 0
    fi
    if ! conda=$(_wsc_find_conda); then
        _wsc_verdict no-conda "The image has no conda: the server starts without the persistent conda environment."
        return 0
    fi
    _wsc_settings
    case "$state" in
        none) _wsc_verdict none "No persistent conda environment '$name': the server uses the image's base environment." ;;
        good) _wsc_verdict good "Using your persistent conda environment '$name' ($prefix)." ;;
        half-made) _wsc_verdict half-made "Your conda environment '$name' is incomplete (its creation was interrupted), so the server starts from the base environment. $(_wsc_repair_hint "$name")" ;;
        no-server) _wsc_verdict no-server "Your conda environment '$name' has no $program, so the server starts from the base environment. $(_wsc_repair_hint "$name")" ;;
    esac
}

# The memory limit of this container in bytes, from its cgroup (v2, then v1); empty: none.
_wsc_memory_limit() {
    local value
    if [ -r /sys/fs/cgroup/memory.max ]; then
        value=$(cat /sys/fs/cgroup/memory.max)
    elif [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
        value=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
    else
        return 0
    fi
    # v1 reports "no limit" as a huge number
    case "$value" in
        max | '' | *[!0-9]*) return 0 ;;
    esac
    [ "${#value}" -ge 19 ] && return 0
    printf '%s\n' "$value"
}

_wsc_mib() {
    echo "$(($1 / 1048576)) MiB"
}

# Clone base into the env, offline first (the image's package cache), then online.
# Exit status non-zero and a verdict line when it cannot, so the spawn fails with it.
_wsc_create() {
    local conda envs_dir name program prefix state base base_kb pkgs_kb need_kb free_kb limit min
    [ -n "${WORKSPACE_CONDA_ENVS_DIR-}" ] || return 0
    if ! conda=$(_wsc_find_conda); then
        _wsc_verdict no-conda "The image has no conda, so no conda environment can be created: start without the option."
        return 1
    fi
    _wsc_settings
    if [ -e "$prefix.creating" ]; then
        # our own clone was interrupted: it is ours to redo
        _wsc_log "removing the incomplete clone $prefix left by an interrupted start"
        rm -rf "$prefix" && rm -f "$prefix.creating"
        state=none
    fi
    if [ "$state" != none ]; then
        _wsc_verdict exists "Your conda environment '$name' already exists; nothing created."
        return 0
    fi
    base=$("$conda" info --base 2>/dev/null) || base=${CONDA_DIR:-/opt/conda}
    mkdir -p "$envs_dir" || {
        _wsc_verdict failed "Cannot make $envs_dir: is the workspace volume mounted and writable?"
        return 1
    }
    # Files cannot be hard-linked from the image to the volume, so the clone copies
    # the whole base env (not its package cache).
    base_kb=$(du -sk "$base" 2>/dev/null | awk '{print $1}')
    pkgs_kb=0
    [ -d "$base/pkgs" ] && pkgs_kb=$(du -sk "$base/pkgs" 2>/dev/null | awk '{print $1}')
    need_kb=$(((${base_kb:-0} - ${pkgs_kb:-0}) * 11 / 10))
    free_kb=$(df -Pk "$envs_dir" 2>/dev/null | awk 'NR==2 {print $4}')
    if [ -n "$free_kb" ] && [ "$free_kb" -lt "$need_kb" ]; then
        _wsc_verdict no-space "Not enough space for your conda environment: cloning base needs about $((need_kb / 1024)) MiB, the volume has $((free_kb / 1024)) MiB free. Free some space or ask your hub admin for a larger volume, then try again."
        return 1
    fi
    min=${WORKSPACE_CONDA_CREATE_MIN_MEMORY-}
    limit=$(_wsc_memory_limit)
    if [ -n "$min" ] && [ -n "$limit" ] && [ "$limit" -lt "$min" ]; then
        _wsc_verdict no-memory "Not enough memory to clone base: the limit is $(_wsc_mib "$limit"), cloning needs about $(_wsc_mib "$min"). Ask your hub admin to raise c.WorkspaceSpawner.conda_create_mem_limit."
        return 1
    fi
    _wsc_log "cloning $base into $prefix (needs about $((need_kb / 1024)) MiB)"
    : >"$prefix.creating" || {
        _wsc_verdict failed "Cannot write in $envs_dir: is the workspace volume writable by your user?"
        return 1
    }
    if "$conda" create --yes --quiet --prefix "$prefix" --clone "$base" --offline; then
        :
    else
        _wsc_log "the offline clone failed (the image's package cache lacks packages); cloning with downloads"
        rm -rf "$prefix"
        if ! "$conda" create --yes --quiet --prefix "$prefix" --clone "$base"; then
            rm -rf "$prefix" "$prefix.creating"
            _wsc_verdict failed "Cloning base into your conda environment failed (see the log of the conda-env-create container); nothing was kept."
            return 1
        fi
    fi
    rm -f "$prefix.creating"
    _wsc_verdict created "Created your persistent conda environment '$name' ($prefix)."
}

_wsc_main() {
    case "${1-}" in
        --check) _wsc_check ;;
        --create) _wsc_create ;;
        *) _wsc_activate ;;
    esac
}

_wsc_cleanup() {
    unset -f _wsc_log _wsc_verdict _wsc_expand _wsc_find_conda _wsc_state _wsc_settings _wsc_repair_hint \
        _wsc_condarc _wsc_activate _wsc_check _wsc_memory_limit _wsc_mib _wsc_create \
        _wsc_main _wsc_cleanup
}

case "${1-}" in
    --exec)
        shift
        _wsc_main --exec || true
        _wsc_cleanup
        if [ "$#" -eq 0 ]; then
            echo "workspace-env: --exec needs the command to run" >&2
            exit 2
        fi
        exec "$@"
        ;;
    --check | --create)
        _wsc_main "$1"
        _wsc_status=$?
        _wsc_cleanup
        exit "$_wsc_status"
        ;;
    *)
        # sourced as a hook: $1 is whatever the caller had (run-hooks.sh's directory)
        _wsc_main || true
        _wsc_cleanup
        ;;
esac
