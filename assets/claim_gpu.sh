# Sourced (not run) by the wrapper of a GPU task on the local executor (-profile gpu, beforeScript; outside
# the container): claims N GPUs of this machine for the task and exports CUDA_VISIBLE_DEVICES with them.
#
#   . assets/claim_gpu.sh N
#
# The GPUs are those of CUDA_VISIBLE_DEVICES when it is set (by you, or by Nextflow >= 25.04, whose local
# executor then hands each task its own), else every GPU that nvidia-smi lists. A claim is an flock on one
# file per GPU in $CRYOLIKE_GPU_LOCK_DIR (default /tmp/cryolike_hydra-gpu-locks), held by the wrapper's
# shell until the task ends, however it ends: concurrent tasks, of this run or of any other on this
# machine, never share a GPU, and a task waits while every GPU is taken. CUDA_DEVICE_ORDER=PCI_BUS_ID
# makes CUDA number the GPUs as nvidia-smi does.

cryolike_claim_gpus() {
    local wanted=${1:-1}
    local lock_dir=${CRYOLIKE_GPU_LOCK_DIR:-/tmp/cryolike_hydra-gpu-locks}
    local ids id fd claimed waited=0
    local -a all held
    ids=${CUDA_VISIBLE_DEVICES:-}
    if [ -z "$ids" ]; then
        ids=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | tr -d ' ' | paste -sd, -) || ids=''
    fi
    IFS=, read -r -a all <<< "$ids"
    if [ "${#all[@]}" -lt "$wanted" ]; then
        echo "claim_gpu: this task needs $wanted GPU(s); this machine shows ${#all[@]} (CUDA_VISIBLE_DEVICES='${CUDA_VISIBLE_DEVICES:-}', nvidia-smi: '${ids}')" >&2
        return 1
    fi
    mkdir -p "$lock_dir" && chmod 1777 "$lock_dir" 2>/dev/null || true
    while :; do
        held=()
        claimed=''
        for id in "${all[@]}"; do
            [ -e "$lock_dir/gpu-$id.lock" ] || { : >> "$lock_dir/gpu-$id.lock" && chmod 666 "$lock_dir/gpu-$id.lock"; } 2>/dev/null
            exec {fd}< "$lock_dir/gpu-$id.lock" || return 1
            if flock --nonblock "$fd"; then
                held+=("$fd")
                claimed=${claimed:+$claimed,}$id
                [ "${#held[@]}" -eq "$wanted" ] && break
            else
                exec {fd}<&-
            fi
        done
        if [ "${#held[@]}" -eq "$wanted" ]; then
            break
        fi
        # not enough free: let go of a partial claim (two tasks must not wait on each other's half) and retry
        for fd in "${held[@]}"; do exec {fd}<&-; done
        [ "$waited" -eq 0 ] && echo "claim_gpu: waiting for $wanted free GPU(s) of ${ids}" >&2
        waited=1
        sleep 2
    done
    export CUDA_VISIBLE_DEVICES=$claimed
    export CUDA_DEVICE_ORDER=PCI_BUS_ID
    export SINGULARITYENV_CUDA_VISIBLE_DEVICES=$claimed APPTAINERENV_CUDA_VISIBLE_DEVICES=$claimed
    export SINGULARITYENV_CUDA_DEVICE_ORDER=PCI_BUS_ID APPTAINERENV_CUDA_DEVICE_ORDER=PCI_BUS_ID
    echo "claim_gpu: GPU ${claimed} for this task" >&2
}

cryolike_claim_gpus "${1:-1}"
