"""Pack the article for arXiv: paper/arxiv.tar.gz (rule arxiv).

The archive holds paper.tex, every file it includes (\\input, \\include,
\\includegraphics; their own \\input too), at the same paths relative to it,
and paper.bbl if it has a bibliography (arXiv does not run BibTeX). paper.tex
gets `\\pdfoutput=1` as its first line, which tells arXiv to compile with
pdflatex (the figures are PNG). `pdflatex paper.tex`, run twice in an empty
directory where the archive is unpacked, builds the article.

The archive is the same bytes for the same files: sorted members, no dates,
no owners.
"""

import gzip
import io
import re
import tarfile
from pathlib import Path

from linked_neurons_core.io import atomic_write_bytes

#: The commands whose argument is a file the archive must hold, with the
#: extensions LaTeX tries when the argument has none.
INCLUDES = {
    "input": (".tex",),
    "include": (".tex",),
    "includegraphics": (".pdf", ".png", ".jpg", ".jpeg", ".eps"),
}
PATTERN = re.compile(r"\\(input|include|includegraphics)\s*(?:\[[^\]]*\])?\s*\{([^}]+)\}")
BIBLIOGRAPHY = re.compile(r"\\bibliography\s*\{")


class PackError(RuntimeError):
    pass


def uncommented(text):
    """The LaTeX text without its comments (an unescaped % to the line's end)."""
    return "\n".join(re.sub(r"(?<!\\)%.*", "", line) for line in text.splitlines())


def _find(base, name, extensions):
    path = base / name
    if path.suffix and path.is_file():
        return path
    for extension in extensions:
        if (candidate := base / f"{name}{extension}").is_file():
            return candidate
    raise PackError(f"{name}: included by the article but not found in {base}")


def included_files(tex):
    """Every file that `tex` includes, recursively: paths relative to its directory."""
    base = tex.parent
    found, todo = [], [tex]
    while todo:
        text = uncommented(todo.pop().read_text(encoding="utf-8"))
        for command, name in PATTERN.findall(text):
            path = _find(base, name.strip(), INCLUDES[command])
            relative = path.relative_to(base)
            if relative.is_absolute() or ".." in relative.parts:
                raise PackError(f"{name}: outside {base}, arXiv cannot have it")
            if relative not in found:
                found.append(relative)
                if path.suffix == ".tex":
                    todo.append(path)
    return found


def _member(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info, io.BytesIO(data)


def pack(tex, build_dir=None):
    """The archive's bytes (.tar.gz) for the article `tex` (a Path)."""
    source = tex.read_text(encoding="utf-8")
    if not source.lstrip().startswith("\\pdfoutput=1"):
        source = "\\pdfoutput=1\n" + source
    members = {tex.name: source.encode("utf-8")}
    for relative in included_files(tex):
        members[relative.as_posix()] = (tex.parent / relative).read_bytes()
    if BIBLIOGRAPHY.search(uncommented(source)):
        bbl = Path(build_dir or tex.parent) / f"{tex.stem}.bbl"
        if not bbl.is_file():
            raise PackError(f"the article has a bibliography but {bbl} does not exist: "
                            "build the PDF first (snakemake --cores all paper/paper.pdf)")
        members[f"{tex.stem}.bbl"] = bbl.read_bytes()
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name in sorted(members):
            archive.addfile(*_member(name, members[name]))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(tar.getvalue())
    return out.getvalue(), sorted(members)


def main(sm):
    import logs

    log = logs.setup(sm, "arxiv")
    try:
        data, names = pack(Path(sm.input.tex), sm.params.build_dir)
    except PackError as error:
        log.error("%s", error)
        raise SystemExit(1) from None
    tex = Path(sm.input.tex)
    built = {Path(f).resolve() for f in sm.input}
    for name in names:
        path = (tex.parent / name).resolve()
        if name in (tex.name, f"{tex.stem}.bbl") or path in built:
            continue
        log.warning("%s is included by the article but no input of rule arxiv: "
                    "it may be stale", name)
    atomic_write_bytes(sm.output[0], data)
    log.info("wrote %s: %s", sm.output[0], ", ".join(names))


if __name__ == "__main__" and "snakemake" in globals():
    main(snakemake)  # noqa: F821
