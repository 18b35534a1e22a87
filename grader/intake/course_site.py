"""Whose files are these: the names course sites give a class's downloads, grouped one folder per student.

    plan_class(paths, roster) -> ClassPlan     an archive's entries -> student folders
    roll_for_folder(folder, roster) -> ClassRoll   a class folder on disk, as it is

Only names are looked at, never contents (those are read later, in the sandboxed intake).
The names understood, tried in this order on a file at the top of the download:

- Canvas "Download Submissions": `sortablename_[LATE_]userid_attachmentid_filename`
  (`zhushatong_1001_9001_homework.ipynb`; Canvas downcases the name and LATE in newer
  versions, and older ones wrote `name-late_`); the student is the Canvas user id; a
  student may have several files, and a re-uploaded file comes back as `homework-1.ipynb`,
  which is given its name back (`homework.ipynb`) unless that would clash.
- Moodle "Download all submissions": `Full Name_participantid_assignsubmission_file_name`,
  or, with "Download submissions in folders", a folder `Full Name_participantid_assignsubmission_file_`.
- A leading student number: `2151131-朱沙桐-课后作业2-1.md`, `2151131_朱沙桐.ipynb` or a folder
  `2151131-朱沙桐/`: the student is the number, a 2 to 6 character Chinese name after it is their name.
- Otherwise, as before: `2151131_report.md` belongs to `2151131` (the name up to the first `_`),
  `report.md` to `report`, and a folder to its name.

With a roster (roster.py), each student's folder is named by the roster's id for them
(SIS User ID, else Canvas ID; Moodle ID number, else participant number), so reports,
gradebook rows and the site's import file agree; students the roster does not know keep the
download's id.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from ..roster import ClassMember, ClassRoll, Roster, RosterEntry, Site, is_safe_student_id
from .layout import class_members

__all__ = ["ClassPlan", "PlannedFile", "SiteName", "plan_class", "read_name", "roll_for_folder"]

_CANVAS = re.compile(
    r"^(?:(?P<name>.+?)(?:_|-(?=late_)))?(?:(?P<late>late)_)?(?P<user>\d{3,})_(?P<attachment>\d{3,})_(?P<file>.+)$",
    re.IGNORECASE)
_MOODLE_FOLDER = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?$")
_MOODLE_FILE = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.+)$")
_NUMBERED = re.compile(r"^(?P<id>\d{5,})(?:[-_\s.]+(?P<rest>.*))?$")
_CHINESE_NAME = re.compile(r"^[\u4e00-\u9fff\u3400-\u4dbf·]{2,6}$")
# Canvas keeps every upload's name unique per student by adding -1, -2, ... before the suffix.
_CANVAS_COPY = re.compile(r"^(?P<stem>.*\D)-(?P<n>\d{1,3})(?P<suffix>\.[^.]+)$")


@dataclass(frozen=True)
class SiteName:
    """What a download's name says about whose file it is."""

    site: Site
    key: str
    """The id that groups a student's files: Canvas user id, participant number, student number or folder/prefix."""
    file: tuple[str, ...]
    """The file's path inside the student's folder."""
    name: str | None = None
    late: bool = False


@dataclass(frozen=True)
class PlannedFile:
    """Where one archive entry goes."""

    source: int
    """Index of the entry in the paths given to `plan_class`."""
    dest: tuple[str, ...]
    """(student folder, path inside it); every part a plain, non-hidden name."""


@dataclass(frozen=True)
class ClassPlan:
    """The student folders an archive becomes, and who each belongs to."""

    files: tuple[PlannedFile, ...]
    roll: ClassRoll


def read_name(parts: tuple[str, ...]) -> SiteName:
    """Whose file `parts` (a path relative to the class, at least one part) is, by its name alone."""
    if len(parts) > 1:
        return _folder_name(parts[0], parts[1:])
    name = parts[0]
    canvas = _CANVAS.match(name)
    if canvas:
        sortable, late = canvas["name"], bool(canvas["late"])
        if sortable is not None and sortable.lower() == "late":  # anonymous grading: no name, only LATE_
            sortable, late = None, True
        return SiteName("canvas", canvas["user"], (canvas["file"],), sortable, late)
    moodle = _MOODLE_FILE.match(name)
    if moodle:
        return SiteName("moodle", moodle["pid"], (moodle["file"],), moodle["name"])
    numbered = _NUMBERED.match(PurePosixPath(name).stem)
    if numbered:
        return SiteName("numbered", numbered["id"], (name,), _chinese_name(numbered["rest"]))
    prefix = name.split("_", 1)[0] if "_" in name else PurePosixPath(name).stem
    return SiteName("folder", prefix or name, (name,))


def plan_class(paths: Sequence[tuple[str, ...]], roster: Roster | None = None) -> ClassPlan:
    """One folder per student for an archive's entries (`paths`, each a tuple of safe path parts).

    A single top-level folder that holds several students is unwrapped first.  Entries
    of one student are grouped by the id their names carry; with `roster`, the folder
    is named by the roster's id for that student.
    """
    depth = _wrapper_depth(paths)
    names = [read_name(parts[depth:]) for parts in paths]
    groups = _group(names, roster)
    files = []
    for group in groups.values():
        for source, dest in _file_names(group, names, paths):
            files.append(PlannedFile(source, (group.member.student, *dest)))
    return ClassPlan(tuple(sorted(files, key=lambda f: f.source)), ClassRoll(tuple(g.member for g in groups.values()), roster))


def roll_for_folder(folder: Path, roster: Roster | None = None) -> ClassRoll:
    """Who the student folders of a class folder on disk belong to; the folders keep their names."""
    members = []
    for sub in class_members(folder):
        said = _folder_name(sub.name, ("_",))
        entry = _match(roster, said)
        members.append(ClassMember(student=sub.name, site=said.site, site_key=said.key, name=_display_name(entry, said),
                                   late=said.late or bool(entry and entry.late), entry=entry))
    return ClassRoll(tuple(members), roster)


# --------------------------------------------------------------------------- names


def _folder_name(folder: str, inner: tuple[str, ...]) -> SiteName:
    moodle = _MOODLE_FOLDER.match(folder)
    if moodle:
        return SiteName("moodle", moodle["pid"], inner, moodle["name"])
    numbered = _NUMBERED.match(folder)
    if numbered:
        return SiteName("numbered", numbered["id"], inner, _chinese_name(numbered["rest"]))
    return SiteName("folder", folder, inner)


def _chinese_name(rest: str | None) -> str | None:
    """The name in '朱沙桐-课后作业2-1': the first token, when it is 2 to 6 Chinese characters."""
    token = re.split(r"[-_\s.]+", rest or "", maxsplit=1)[0]
    return token if _CHINESE_NAME.match(token) else None


def _wrapper_depth(paths: Sequence[tuple[str, ...]]) -> int:
    """1 when every entry sits in one top-level folder that holds several students, else 0.

    Several students means at least two sub-folders or named files (a Canvas, Moodle or
    numbered name, or a `prefix_` one) with different students; a folder that is itself
    one student's (a Moodle folder, a numbered one) is never unwrapped.
    """
    if len({parts[0] for parts in paths}) != 1 or any(len(parts) == 1 for parts in paths):
        return 0
    if read_name((paths[0][0], "_")).site != "folder":
        return 0
    keys = {said.key for said in (read_name(parts[1:]) for parts in paths)
            if len(said.file) > 1 or said.site != "folder" or "_" in said.file[0]}
    return 1 if len(keys) > 1 else 0


# --------------------------------------------------------------------------- grouping


@dataclass
class _Group:
    member: ClassMember
    sources: list[int] = field(default_factory=list)


def _group(names: list[SiteName], roster: Roster | None) -> dict[str, _Group]:
    """The entries of each student, by folder name, in the order first seen."""
    groups: dict[str, _Group] = {}
    for index, said in enumerate(names):
        entry = _match(roster, said)
        folder = entry.student if entry is not None else _safe_key(said)
        group = groups.get(folder)
        if group is None:
            member = ClassMember(student=folder, site=said.site, site_key=said.key, name=_display_name(entry, said),
                                 late=said.late or bool(entry and entry.late), entry=entry)
            group = groups[folder] = _Group(member)
        elif said.late and not group.member.late:  # one LATE_ file makes the submission late
            group.member = replace(group.member, late=True)
        group.sources.append(index)
    return groups


def _match(roster: Roster | None, said: SiteName) -> RosterEntry | None:
    if roster is None:
        return None
    # A site's own download carries the site's id; a numbered file or a folder may carry any of the roster's ids.
    return roster.match(said.key, site_id=said.site == roster.kind)


def _display_name(entry: RosterEntry | None, said: SiteName) -> str | None:
    return (entry.name if entry is not None and entry.name else None) or said.name


def _safe_key(said: SiteName) -> str:
    # Keys come from names already checked safe, but a part of one ("_x.py" -> "") may not be.
    return said.key if is_safe_student_id(said.key) else "unnamed"


def _file_names(group: _Group, names: list[SiteName], paths: Sequence[tuple[str, ...]]) -> list[tuple[int, tuple[str, ...]]]:
    """(entry, path inside the student's folder) for each entry of `group`: the name the student gave it, without clashes."""
    wanted = {source: _restored(names[source]) for source in group.sources}
    counts = Counter(wanted.values())
    taken: set[tuple[str, ...]] = set()
    planned = []
    for source in group.sources:
        dest = wanted[source]
        if counts[dest] > 1 and dest != names[source].file:
            dest = names[source].file  # giving the name back would clash with another file: keep Canvas's
        if dest in taken or not all(_plain(part) for part in dest):
            dest = (paths[source][-1],)  # the archive's own name for it, unique in its folder
        if dest in taken:
            dest = (f"{source}-{dest[-1]}",)  # a hostile archive may hold one name twice
        taken.add(dest)
        planned.append((source, dest))
    return planned


def _restored(said: SiteName) -> tuple[str, ...]:
    """A Canvas file's name without the `-1` Canvas added to keep re-uploads apart ('作业2-1.md' keeps its -1)."""
    if said.site != "canvas":
        return said.file
    copy = _CANVAS_COPY.match(said.file[-1])
    return (f"{copy['stem']}{copy['suffix']}",) if copy else said.file


def _plain(part: str) -> bool:
    return bool(part) and part not in (".", "..") and not part.startswith(".") and "/" not in part and "\\" not in part
