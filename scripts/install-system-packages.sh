#!/usr/bin/env bash
# Install the system packages the test suite and the benchmarks need, once: Chromium for the
# browser tests (Playwright drives Debian's build; it cannot download its own), nginx for the
# front-proxy tests, caddy for the edge recipes, envsubst (gettext-base) to fill the nginx edge
# recipe as its README says, wrk for `make bench`. Called by `make test`
# and by CI; does nothing when everything is already there.
set -euo pipefail

needed=()
command -v chromium >/dev/null 2>&1 || needed+=(chromium)
command -v wrk >/dev/null 2>&1 || needed+=(wrk)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || needed+=(nginx)
command -v caddy >/dev/null 2>&1 || needed+=(caddy)
command -v envsubst >/dev/null 2>&1 || needed+=(gettext-base)
[ ${#needed[@]} -eq 0 ] && exit 0

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
test -x /usr/bin/chromium || { echo "chromium is missing: browser tests cannot run" >&2; exit 1; }
