#!/usr/bin/env bash
# Install what the browser tests (tests/test_browser.py) need: Debian's chromium, driven by the
# playwright package from PyPI with executable_path=/usr/bin/chromium (playwright's own browser
# download is never used), and a CJK font so Chinese road names render in screenshots.
# Does nothing when both are present; needs root (or sudo) and Debian's apt otherwise.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -eq 0 ]; then
    echo "install_browser: chromium and a CJK font already installed"
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install_browser: installing ${need[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
$sudo apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
/usr/bin/chromium --version
