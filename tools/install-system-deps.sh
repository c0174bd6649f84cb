#!/usr/bin/env bash
# The system packages bp's tests need, from Debian's archive (run as root; idempotent: a
# package already installed is left alone, and nothing is fetched when all are there):
#   graphviz            Graphviz's dot program: bp graph --format svg/png/pdf, bp view's layout
#   chromium            Debian's Chromium at /usr/bin/chromium, which Playwright drives for the
#                       browser tests (no browser is downloaded from elsewhere)
#   texlive-latex-base  pdflatex, which compiles bp quiz's LaTeX worksheets in the tests; the base
#                       TeX Live alone, without its recommends (39 MB of archives, 124 MB installed)
#   texlive-pictures    TikZ (and the LaTeX packages it needs), which the tests compile bp graph
#                       --format tikz's pictures with (16 MB of archives, without recommends)
# Without them the tests that need them are skipped, each with a printed reason naming this script
# (bp graph --format tikz's tests require pdflatex and TikZ: they fail, naming this script).
set -euo pipefail
with=()     # installed as .ci/run always did, with their recommends (Chromium's fonts among them)
without=()  # installed without recommends
command -v dot >/dev/null 2>&1 || with+=(graphviz)
[ -x /usr/bin/chromium ] || with+=(chromium)
command -v pdflatex >/dev/null 2>&1 || without+=(texlive-latex-base)
kpsewhich tikz.sty >/dev/null 2>&1 || without+=(texlive-pictures)
need=("${with[@]}" "${without[@]}")
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install ${need[*]} to run every test (Graphviz's dot, Chromium at /usr/bin/chromium, pdflatex, TikZ)" >&2
  exit 1
fi
as_root=(env DEBIAN_FRONTEND=noninteractive)
[ "$(id -u)" -eq 0 ] || as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
echo "installing ${need[*]} (tools/install-system-deps.sh)" >&2
"${as_root[@]}" apt-get update -qq
[ ${#with[@]} -eq 0 ] || "${as_root[@]}" apt-get install -y -qq "${with[@]}" >/dev/null
[ ${#without[@]} -eq 0 ] || "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${without[@]}" >/dev/null
