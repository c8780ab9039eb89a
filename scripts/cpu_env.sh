# Sourced by scripts/book.sh and scripts/test.sh: how torch runs best on a small CPU machine (each value is kept if
# the caller set it already).
# - OpenMP: 2 threads, waiting passively (on a busy 2-core machine spinning threads made small training steps up to
#   8x slower).
# - glibc malloc keeps freed memory instead of returning it to the system after every tensor (M_MMAP_THRESHOLD and
#   M_TRIM_THRESHOLD, mallopt(3)). By default every large activation buffer of a training step is handed back and
#   mapped again, zeroed page by page: 3 epochs of the CIFAR-10 chapter's network spent 5.7 s in the kernel (2.8
#   million page faults) and 23.7 s in all; with these two settings 0.8 s and 18.6 s (the same weights), for about
#   15% more resident memory (1.36 -> 1.56 GB). Setting only the trim threshold is far worse (it switches off
#   glibc's adaptive mmap threshold: 39.5 s); both go together. No effect on other C libraries' allocators.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
if [ -z "${MALLOC_MMAP_THRESHOLD_:-}${MALLOC_TRIM_THRESHOLD_:-}" ]; then
    export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736
fi
