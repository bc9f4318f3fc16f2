#!/bin/sh
# Compile a LaTeX file aside, then move the PDF into place atomically.
#
#   sh workflow/scripts/compile_pdf.sh FILE.tex OUTPUT.pdf [BUILD_DIR]
#   sh workflow/scripts/compile_pdf.sh paper/paper.tex paper/paper.pdf
#
# latexmk works in BUILD_DIR (default: .build/ beside the .tex file), where
# its aux, log and PDF stay. Only when it succeeds is the new PDF copied
# beside OUTPUT.pdf and renamed over it, so a LaTeX error, a full disk or a
# kill leaves the previous OUTPUT.pdf as it was. On an error the script exits
# non-zero after printing the LaTeX error (its first "! ..." line and the lines
# that locate it) to stderr; latexmk's own output goes to stdout (the rule's
# log); each failure writes a new BUILD_DIR/NAME.failed (see the pdf rule).
# POSIX sh: the latex conda environment has no Python.
set -u

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 FILE.tex OUTPUT.pdf [BUILD_DIR]" >&2
    exit 2
fi
tex=$1
pdf=$2
me=compile_pdf

if [ ! -f "$tex" ]; then
    echo "$me: $tex does not exist" >&2
    exit 2
fi
if ! command -v latexmk >/dev/null 2>&1; then
    echo "$me: latexmk is not installed (Debian: apt-get install latexmk texlive-latex-recommended texlive-latex-extra)" >&2
    exit 2
fi

name=$(basename "$tex" .tex)
build=${3:-$(dirname "$tex")/.build}
mkdir -p "$build" || exit 2
build=$(cd "$build" && pwd) || exit 2  # absolute: latexmk -cd changes directory

# -cd: \input and \includegraphics paths are relative to the .tex file.
# -no-shell-escape: no \write18 at all (TeX Live's default is a restricted
# shell escape, not none): a title or table cell cannot run a command.
latexmk -pdf -no-shell-escape -interaction=nonstopmode -halt-on-error -cd -outdir="$build" "$tex" 2>&1
status=$?

if [ $status -ne 0 ] || [ ! -s "$build/$name.pdf" ]; then
    [ $status -ne 0 ] || status=1
    # A new mark at each failure: the workflow reads it into a param of its
    # rule, so that the next run retries although the (restored) PDF looks
    # up to date.
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) pid $$ status $status" > "$build/$name.failed" || :
    {
        echo "$me: LaTeX failed on $tex (latexmk exit status $status); $pdf is left as it was."
        if [ -f "$build/$name.log" ] && grep -q '^!' "$build/$name.log"; then
            echo "$me: the error, from $build/$name.log:"
            # The first error, up to the line after its "l.NN" (where it is).
            awk '!found && /^!/ { found = 1 }
                 found { print; n++
                         if ($0 ~ /^l\.[0-9]+/) { if ((getline line) > 0) print line; exit }
                         if (n >= 20) exit }' "$build/$name.log"
        elif [ -f "$build/$name.log" ]; then
            echo "$me: the end of $build/$name.log:"
            tail -n 20 "$build/$name.log"
        else
            echo "$me: LaTeX wrote no log; see latexmk's output in the rule's log."
        fi
    } >&2
    exit $status
fi

outdir=$(dirname "$pdf")
mkdir -p "$outdir" || exit 1
tmp=$outdir/.$(basename "$pdf").$$.tmp
trap 'rm -f "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# cp makes a new file: its mode follows the umask, as any output's.
if ! cp "$build/$name.pdf" "$tmp" || ! mv -f "$tmp" "$pdf"; then
    echo "$me: cannot write $pdf; it is left as it was" >&2
    exit 1
fi
echo "$me: wrote $pdf"
