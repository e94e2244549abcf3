#!/usr/bin/env bash
# `npm test`: installs what is missing (scripts/setup.sh), then typecheck, lint, unit tests, then
# the e2e suite against a real control plane (built and started on first use; see
# test/e2e/README.md) and real PostgreSQL servers.
# Ends with one line "tests: N passed, N failed[, N skipped]" over both suites.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh || exit 1
mkdir -p .local
export NODE_OPTIONS="--experimental-vm-modules${NODE_OPTIONS:+ $NODE_OPTIONS}"

step() { printf '\n=== %s\n' "$*"; }
status=0

# The e2e suite's Go builds (the local control plane, promtool, helm: 30-50 minutes on 2 cores when
# nothing is cached) start now, niced, beside the typecheck, lint and unit tests, whose waits on
# databases and brokers leave cores idle; the e2e suite's own calls wait for them (each build takes
# a lock) and find them cached. Nothing to do when they are cached already.
prebuild_pid=""
if [[ "${SKIP_E2E:-}" != "1" ]]; then
  (
    for script in tools/kube-local/build.sh tools/promtool/build.sh tools/helm/build.sh; do
      nice -n 19 bash "$script" >/dev/null || echo "early build: $script failed (the e2e suite runs it again and shows why)"
    done
  ) > .local/early-builds.log 2>&1 &
  prebuild_pid=$!
fi

step "typecheck"; npx tsc -p tsconfig.json || status=1
step "lint"; npx eslint . || status=1
step "build"; npm run -s build || status=1
# --forceExit: a test that leaves a process or socket behind (a broker of a world whose start
# failed, say) must fail its own test, not hang the whole run until CI's time limit.
step "unit tests"; npx jest --selectProjects unit --forceExit --json --outputFile=.local/jest-unit.json || status=1
if [[ "${SKIP_E2E:-}" == "1" ]]; then
  step "e2e tests skipped (SKIP_E2E=1)"
  rm -f .local/jest-e2e.json
else
  if [[ -n "$prebuild_pid" ]] && kill -0 "$prebuild_pid" 2>/dev/null; then echo "the e2e suite's builds started early are still running (.local/early-builds.log); its setup waits for them"; fi
  step "e2e tests"; npx jest --selectProjects e2e --runInBand --forceExit --json --outputFile=.local/jest-e2e.json || status=1
fi

if [[ -n "$prebuild_pid" ]]; then
  wait "$prebuild_pid" 2>/dev/null
  step "the e2e suite's builds, started early"; cat .local/early-builds.log
fi

node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const f of [".local/jest-unit.json", ".local/jest-e2e.json"]) {
    if (!fs.existsSync(f)) continue;
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
    skipped += r.numPendingTests + r.numTodoTests;
  }
  console.log(`\ntests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
'
exit $status
