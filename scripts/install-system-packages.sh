#!/usr/bin/env bash
# Install the system packages the test suite and the benchmarks need, once: Chromium for the
# browser tests (Playwright drives Debian's build; it cannot download its own), nginx for the
# front-proxy tests, caddy for the edge recipes, envsubst (gettext-base) to fill the nginx edge
# recipe as its README says, wrk for `make bench`, promtool (Debian's prometheus) to check
# deploy/observability/prometheus-rules.yml, Java (the Nu HTML Checker) and Node.js with npm
# (to fetch the checkers of tests/tools/package.json: axe-core and vnu.jar, used by the tests and
# never served). Called by `make test` and by CI; does nothing when everything is already there.
set -euo pipefail

needed=()
command -v chromium >/dev/null 2>&1 || needed+=(chromium)
command -v wrk >/dev/null 2>&1 || needed+=(wrk)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || needed+=(nginx)
command -v caddy >/dev/null 2>&1 || needed+=(caddy)
command -v envsubst >/dev/null 2>&1 || needed+=(gettext-base)
command -v promtool >/dev/null 2>&1 || needed+=(prometheus)
command -v java >/dev/null 2>&1 || needed+=(default-jre-headless)
command -v npm >/dev/null 2>&1 || needed+=(nodejs npm)

# The checkers, pinned by tests/tools/package-lock.json; fetched again only when the lock changes.
# --ignore-scripts: vnu-jar's own install step would download a Java; Debian's is used instead.
install_test_tools() {
  local tools stamp
  tools="$(cd "$(dirname "$0")/../tests/tools" && pwd)"
  stamp="$tools/node_modules/.pausa-lock.sha256"
  if [ -f "$stamp" ] && (cd "$tools" && sha256sum --status -c "$stamp" 2>/dev/null) \
    && [ -f "$tools/node_modules/axe-core/axe.min.js" ] && [ -f "$tools/node_modules/vnu-jar/build/dist/vnu.jar" ]; then
    return 0
  fi
  echo "fetching the test checkers (axe-core, vnu-jar) into tests/tools/node_modules"
  (cd "$tools" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  test -f "$tools/node_modules/axe-core/axe.min.js" || { echo "axe-core is missing after npm ci" >&2; exit 1; }
  test -f "$tools/node_modules/vnu-jar/build/dist/vnu.jar" || { echo "vnu.jar is missing after npm ci" >&2; exit 1; }
  (cd "$tools" && sha256sum package-lock.json > "$stamp")
}

if [ ${#needed[@]} -eq 0 ]; then
  install_test_tools
  exit 0
fi

echo "installing system packages: ${needed[*]}"
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends "${needed[@]}" \
  || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends "${needed[@]}"; }
# Debian's nginx package starts a system server on port 80; the tests run their own.
if [ -x /usr/sbin/nginx ] && pgrep -x nginx >/dev/null 2>&1 && command -v service >/dev/null 2>&1; then
  $SUDO service nginx stop >/dev/null 2>&1 || true
fi
# Debian's prometheus package starts a Prometheus server; the tests only need its promtool.
if [[ " ${needed[*]} " == *" prometheus "* ]] && command -v service >/dev/null 2>&1; then
  $SUDO service prometheus stop >/dev/null 2>&1 || true
fi
test -x /usr/bin/chromium || { echo "chromium is missing: browser tests cannot run" >&2; exit 1; }
install_test_tools
