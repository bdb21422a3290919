"""COPY and ADD: files from the context, another stage or image, a here-document, a URL or a tar archive.

Source matching and destination rules live in ``sources``; this module does the copying, confined to
the stage's rootfs (destination symlinks are resolved inside it), with BuildKit's ownership rules:
context files become 0:0, files from a stage keep their owners, ``--chown`` overrides both (names
resolved in the rootfs) and ``--chmod`` sets the permission bits.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kiln.build.steps import archives, chmod
from kiln.build.steps.base import Outcome, StepContext
from kiln.build.steps.sources import (
    absolute_dest,
    destination_is_dir,
    kept_parents,
    kept_path,
    match_parents,
    match_sources,
    place,
    split_pivot,
)
from kiln.context.scrub import scrub_url
from kiln.dockerfile import IgnoreMatcher, expand_word
from kiln.dockerfile.instructions import Copy
from kiln.errors import BuildStepError, KilnError
from kiln.fs import safepath
from kiln.fs.users import resolve_chown


@dataclass
class Copier:
    """Copies trees into one rootfs with one ownership/mode policy."""

    root: Path
    owner: tuple[int, int] | None  # --chown, else None
    keep_owner: bool  # from a stage/image: keep owners; from the context: 0:0
    mode: chmod.ModeFn | None  # --chmod
    context: Path | None = None  # set when copying from the context: .dockerignore applies
    ignore: IgnoreMatcher | None = None
    exclude: IgnoreMatcher | None = None  # --exclude, relative to the source being copied
    source_base: Path | None = None
    links: dict[tuple[int, int], Path] = field(default_factory=dict)

    def host(self, image_path: str, follow: bool) -> Path:
        return safepath.resolve(self.root, image_path, follow_final=follow)

    def owner_of(self, st: os.stat_result) -> tuple[int, int]:
        if self.owner is not None:
            return self.owner
        return (st.st_uid, st.st_gid) if self.keep_owner else (0, 0)

    def make_parents(self, image_path: str) -> None:
        parent = posixpath.dirname(image_path.rstrip("/")) or "/"
        self.make_dir(parent)

    def make_dir(self, image_path: str) -> None:
        missing: list[Path] = []
        probe = self.host(image_path, True)
        while not probe.exists() and probe != self.root:
            missing.append(probe)
            probe = probe.parent
        uid, gid = self.owner if self.owner is not None else (0, 0)
        for directory in reversed(missing):
            directory.mkdir(mode=0o755)
            os.chmod(directory, 0o755)
            os.lchown(directory, uid, gid)

    def copy(self, src: Path, image_path: str) -> None:
        """Copy ``src`` (file, link or directory tree) to ``image_path``."""
        self._copy_all([(src, image_path)])

    def _copy_all(self, items: list[tuple[Path, str]]) -> None:
        """Copy each (source, image path) in order, depth first, a directory's mode and times set after its children.

        An explicit stack, not recursion: a tree a RUN or a base layer made thousands of levels deep must not end
        the build with Python's RecursionError. A child's destination is found from its parent's, already
        resolved inside the root, so a deep tree costs one lookup per entry, not one walk from the root.
        """
        todo: list[tuple[Path, str | os.stat_result, Path | None]] = [
            (s, p, None) for s, p in reversed(items)
        ]
        while todo:
            path, what, parent = todo.pop()
            if isinstance(what, os.stat_result):
                self.finish(path, what)
                continue
            st = path.lstat()
            if not stat.S_ISDIR(st.st_mode):
                self._copy_entry(path, self._dest(what, parent, False), st)
                continue
            dest = self._dest(what, parent, True)
            if os.path.lexists(dest) and not dest.is_dir():
                dest.unlink()
            if not dest.exists():
                dest.mkdir()
            todo.append((dest, st, None))
            todo.extend(
                (child, image_path, dest) for child, image_path in reversed(self._children(path, what))
            )

    def _dest(self, image_path: str, parent: Path | None, follow: bool) -> Path:
        """``host(image_path, follow)``, starting from the parent's resolved host path when there is one."""
        if parent is None:
            return self.host(image_path, follow)
        dest = parent / posixpath.basename(image_path)
        if follow and dest.is_symlink():
            return self.host(image_path, follow)
        return dest

    def _copy_entry(self, src: Path, dest: Path, st: os.stat_result) -> None:
        """One file, symlink, device or FIFO to ``dest`` (a host path inside the root)."""
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        elif os.path.lexists(dest):
            dest.unlink()
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dest)
            uid, gid = self.owner_of(st)
            os.lchown(dest, uid, gid)
            os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
            return
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.links:
            os.link(self.links[key], dest)
            return
        if stat.S_ISREG(st.st_mode):
            shutil.copyfile(src, dest, follow_symlinks=False)
        else:
            os.mknod(dest, st.st_mode, st.st_rdev)
        if st.st_nlink > 1:
            self.links[key] = dest
        self.finish(dest, st)

    def excluded(self, child: Path) -> bool:
        base = self.source_base
        if (
            self.exclude is not None
            and base is not None
            and self.exclude.matches(child.relative_to(base).as_posix())
        ):
            return True
        if self.context is None:
            return False
        return self.excluded_rel(child.relative_to(self.context).as_posix())

    def excluded_rel(self, rel: str) -> bool:
        """Whether .dockerignore hides ``rel``; a directory with re-included paths below stays."""
        if self.ignore is None or self.context is None:
            return False
        child = self.context / rel
        if not self.ignore.matches(rel):
            return False
        reinclude = self.ignore.has_exclusions and self.ignore.may_reinclude_under(rel)
        return not (child.is_dir() and not child.is_symlink() and reinclude)

    def copy_children(self, src: Path, image_path: str) -> None:
        self._copy_all(self._children(src, image_path))

    def _children(self, src: Path, image_path: str) -> list[tuple[Path, str]]:
        return [
            (src / name, posixpath.join(image_path, name))
            for name in sorted(os.listdir(src))
            if not self.excluded(src / name)
        ]

    def mode_for(self, st: os.stat_result) -> int:
        mode = stat.S_IMODE(st.st_mode)
        return self.mode(mode, stat.S_ISDIR(st.st_mode)) if self.mode is not None else mode

    def finish(self, dest: Path, st: os.stat_result) -> None:
        uid, gid = self.owner_of(st)
        os.lchown(dest, uid, gid)
        os.chmod(dest, self.mode_for(st))
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _either(first: Callable[[str], bool] | None, second: Callable[[str], bool]) -> Callable[[str], bool]:
    return second if first is None else (lambda rel: first(rel) or second(rel))


def parse_chmod(value: str | None, ins: Copy) -> chmod.ModeFn | None:
    if value is None:
        return None
    try:
        return chmod.parse(value)
    except ValueError:
        raise BuildStepError(
            f"{ins.keyword} --chmod={value}: invalid mode",
            location=ins.location,
            hint="use an octal mode such as 0755 or a symbolic one such as u+x,g-w",
        ) from None


def history_text(ins: Copy) -> str:
    flags = ""
    for name, value in (("from", ins.from_), ("chown", ins.chown), ("chmod", ins.chmod)):
        if value:
            flags += f"--{name}={value} "
    sources = " ".join(scrub_url(s) if "://" in s else s for s in ins.sources)  # no URL credentials
    return f"{'ADD' if ins.is_add else 'COPY'} {flags}{sources} {ins.dest} # buildkit"


def copy_step(ins: Copy, ctx: StepContext) -> Outcome:
    state = ctx.state
    ins = ins.expand(state.expansion_env(), state.escape)
    keyword = "ADD" if ins.is_add else "COPY"
    try:
        owner = resolve_chown(ins.chown, state.root) if ins.chown else None
    except KilnError as err:
        raise BuildStepError(f"{keyword} --chown={ins.chown}: {err.message}", location=ins.location) from None
    mode = parse_chmod(ins.chmod, ins)
    if ins.parents and ins.is_add:
        raise BuildStepError(
            "ADD --parents is not supported: BuildKit defines --parents for COPY only",
            location=ins.location,
            hint="use COPY --parents for local files",
        )
    ignored: Callable[[str], bool] | None = None
    if ins.from_:
        src_root = ctx.sources.root_of(ins.from_)
        copier = Copier(state.root, owner, True, mode)
    else:
        src_root = ctx.context_dir
        copier = Copier(state.root, owner, False, mode, src_root, ctx.ignore)
        ignored = copier.excluded_rel if ctx.ignore is not None else None
    if ins.excludes:
        copier.exclude = IgnoreMatcher(ins.excludes, "--exclude")
        ignored = _either(ignored, copier.exclude.matches)
    dest = absolute_dest(ins.dest, state.run.working_dir)
    try:
        _do_copy(ins, ctx, copier, src_root, ignored, dest)
    except OSError as err:
        raise BuildStepError(
            f"{keyword} failed: {err.strerror}: {err.filename}", location=ins.location
        ) from None
    return Outcome(history_text(ins), touches_fs=True)


def _do_copy(
    ins: Copy,
    ctx: StepContext,
    copier: Copier,
    src_root: Path,
    ignored: Callable[[str], bool] | None,
    dest: str,
) -> None:
    keyword = "ADD" if ins.is_add else "COPY"
    matches: list[tuple[str, bool]] = []
    specials: list[str] = []
    parents: list[tuple[str, list[str]]] = []
    for source in ins.sources:
        if ins.heredoc_for(source) is not None or (
            ins.is_add and (archives.is_remote(source) or archives.is_git(source))
        ):
            specials.append(source)
            continue
        if ins.parents:
            pivot, pattern = split_pivot(source)
            found = match_parents(src_root, pivot, pattern, ignored)
            parents.append((pivot, found))
        else:
            found = match_sources(src_root, source, ignored)
        if not found:
            where = f"stage or image {ins.from_!r}" if ins.from_ else "the build context"
            raise BuildStepError(
                f"{keyword} failed: {source!r} not found in {where}",
                location=ins.location,
                hint=None if ins.from_ else "paths are relative to the context; check .dockerignore",
            )
        if ins.parents:
            continue
        for rel in found:
            host = safepath.resolve(src_root, rel) if rel else src_root
            matches.append((rel, host.is_dir()))
    count = len(matches) + len(specials)
    existing = safepath.resolve(ctx.state.root, dest)
    as_dir = ins.parents or destination_is_dir(dest, count, existing.is_dir())
    for source in specials:
        doc = ins.heredoc_for(source)
        if doc is not None:
            content = doc.content
            if doc.expand:
                content = expand_word(content, ctx.state.expansion_env(), ctx.state.escape)
            target = posixpath.join(dest.rstrip("/"), doc.name) if as_dir else dest
            copier.make_parents(target)
            archives.write_file(copier, target, content.encode(), 0o644)
        elif archives.is_git(source):
            archives.add_git(copier, ins, source, dest, ctx)
        else:
            archives.add_url(copier, ins, source, dest, as_dir, ctx)
    for placement in place(matches, dest, as_dir):
        host = safepath.resolve(src_root, placement.source) if placement.source else src_root
        copier.source_base = host if placement.contents_of else host.parent
        if ins.is_add and not placement.contents_of and archives.is_archive(host):
            target_dir = dest.rstrip("/") or "/"
            copier.make_dir(target_dir)
            archives.extract(host, copier.host(target_dir, True))
            continue
        if placement.contents_of:
            copier.make_dir(placement.dest)
            copier.copy_children(host, placement.dest)
        else:
            copier.make_parents(placement.dest)
            copier.copy(host, placement.dest)
    if parents:
        _copy_parents(copier, src_root, parents, dest.rstrip("/") or "/")


def _copy_parents(copier: Copier, src_root: Path, sources: list[tuple[str, list[str]]], base: str) -> None:
    """``--parents``: each match at ``base/<its path below the pivot>``, parent directories included.

    The parents get their source directories' metadata (owner policy and --chmod as for any copied
    directory), applied last so that copying into them does not leave their times changed.
    """
    copier.make_dir(base)
    parent_dirs: dict[str, Path] = {}
    for pivot, found in sources:
        copied: set[str] = set()
        made: set[str] = set()  # parents of this source already made (every match below them shares them)
        for match in found:
            if any(match.startswith(done + "/") for done in copied):
                continue  # inside a directory this source already copied whole (``**`` matches both)
            host = safepath.resolve(src_root, match) if match else src_root
            keep = kept_path(match, pivot)
            if not keep:
                copier.source_base = host
                copier.copy_children(host, base)
                copied.add(match)
                continue
            for parent in kept_parents(match, pivot):
                if parent in made:
                    continue
                made.add(parent)
                image_parent = posixpath.join(base, kept_path(parent, pivot))
                copier.make_dir(image_parent)
                parent_dirs[image_parent] = safepath.resolve(src_root, parent)
            copier.source_base = host.parent
            copier.copy(host, posixpath.join(base, keep))
            if host.is_dir() and not host.is_symlink():
                copied.add(match)
    for image_parent in sorted(parent_dirs, key=lambda p: -p.count("/")):
        copier.finish(copier.host(image_parent, True), parent_dirs[image_parent].stat())
