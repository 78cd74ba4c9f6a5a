#!/usr/bin/env bash
# The nightly regression run, as the CI job runs it (ci/nightly.yml only sets up Python and the
# project, then calls this). Run it locally the same way, e.g. a quick check on a laptop:
#
#   HARNESS_TIER=smoke HARNESS_PYTEST_ARGS="-m memorization" bash ci/nightly.sh
#
# Settings (environment, all optional):
#   HARNESS_DEVICE       device to run on (cpu, cuda, cuda:1, auto)            default: cpu
#   HARNESS_TIER         full or smoke                                           default: full
#   HARNESS_SHARD        I/N: this job's part of the suite                       default: all of it
#   HARNESS_DURATIONS    run record(s) whose test durations balance the shards; ignored while
#                        absent (every shard of a run must get the same one, or the shards overlap)
#   HARNESS_BASELINES    baseline store root                                     default: baselines
#   HARNESS_PREVIOUS     an earlier nightly run record (file or folder) to test the new one against
#                        with `harness compare` (Welch on metrics, Mann-Whitney on timing rounds)
#   HARNESS_TIME_RATIO   slowdown `harness compare` calls a regression           default: 2 (shared CPUs)
#   HARNESS_OUT          where everything goes                                   default: .harness/nightly
#   HARNESS_PYTEST_ARGS  more pytest arguments, split as a shell would: '-k "pruning or fgsm"' 
#
# Writes $HARNESS_OUT/runs/ (run record JSON + Markdown), $HARNESS_OUT/benchmark.json
# (pytest-benchmark), $HARNESS_OUT/report/ (index.html with PNG plots, report.md, the merged record,
# github-action-benchmark JSON). Exits non-zero when a claim fails, a baseline regresses or is
# missing, no test ran, or `harness compare` finds a significant regression. Never writes baselines.
set -u -o pipefail

out=${HARNESS_OUT:-.harness/nightly}
rm -rf "$out/runs" "$out/report" "$out/benchmark.json" "$out/compare.txt"  # only what this script writes
mkdir -p "$out/runs"
# One id for every shard of this run, so `harness report` can merge their records.
export HARNESS_RUN_ID=${HARNESS_RUN_ID:-nightly-$(date -u +%Y%m%dT%H%M%SZ)}

args=(benchmarks
      --device "${HARNESS_DEVICE:-cpu}"
      --tier "${HARNESS_TIER:-full}"
      --require-baselines
      --baselines-dir "${HARNESS_BASELINES:-baselines}"
      --results-dir "$out/runs"
      --benchmark-json "$out/benchmark.json"
      -p no:randomly)
[[ -n ${HARNESS_SHARD:-} ]] && args+=(--shard "$HARNESS_SHARD")
if [[ -n ${HARNESS_DURATIONS:-} && -e $HARNESS_DURATIONS ]]; then
    args+=(--shard-durations "$HARNESS_DURATIONS")
fi
if [[ -n ${HARNESS_PYTEST_ARGS:-} ]]; then  # split like a shell would, quotes kept: -k "a or b"
    # A malformed value (an unclosed quote) must stop the night, not run the whole suite unfiltered.
    if ! split=$(python -c 'import shlex, sys; print(*shlex.split(sys.argv[1]), sep="\n")' "$HARNESS_PYTEST_ARGS"); then
        echo "nightly: HARNESS_PYTEST_ARGS is not valid shell syntax: $HARNESS_PYTEST_ARGS" >&2
        exit 2
    fi
    while IFS= read -r arg; do  # (a read loop, not mapfile: macOS ships bash 3.2)
        args+=("$arg")
    done <<< "$split"
fi

echo "nightly: pytest ${args[*]}"
python -m pytest "${args[@]}"
status=$?
echo "nightly: pytest exited $status"

if ! compgen -G "$out/runs/*.json" > /dev/null; then
    echo "nightly: no run record was written (pytest exit $status); nothing to report" >&2
    exit $(( status ? status : 1 ))
fi

harness report "$out/runs" --out "$out/report" || status=$(( status ? status : 1 ))

if [[ -n ${HARNESS_PREVIOUS:-} ]]; then
    if [[ -e $HARNESS_PREVIOUS ]]; then
        harness compare "$HARNESS_PREVIOUS" "$out/runs" ${HARNESS_TIME_RATIO:+--time-ratio "$HARNESS_TIME_RATIO"} \
            | tee "$out/compare.txt"
        compare_status=${PIPESTATUS[0]}
        [[ -n ${GITHUB_STEP_SUMMARY:-} ]] && { echo '### Against the previous nightly'; echo '```';
                                               cat "$out/compare.txt"; echo '```'; } >> "$GITHUB_STEP_SUMMARY"
        (( compare_status )) && status=$(( status ? status : compare_status ))
    else
        echo "nightly: no previous record at $HARNESS_PREVIOUS; skipping harness compare"
    fi
fi

echo "nightly: report in $out/report/index.html; exit $status"
exit "$status"
