#!/usr/bin/env python3
# test_layers.py - the layers hold: no include or link points up a layer or into another program
"""
DESIGN.md section 2: dependencies point one way,

    core  <  planner, http, infer  <  grid5000  <  programs (cli, daemon, agent, trainer, serve, bench)

and programs never use each other's sources: what two of them share moves
down a layer.  This test reads the tree (no build needed) and fails on

  1. an include of "autodist/ad_X.h" whose implementation (the folder of
     ad_X.c or ad_X.cpp, the module convention of STYLE.md) lives in a higher
     layer, or in another program, than the including file (a public header
     include/autodist/ad_X.h counts as living with its implementation);
  2. an include reaching into another folder ("../agent/x.h", "daemon/x.h");
  3. a target of CMakeLists.txt whose sources span folders of different
     layers or programs (a program compiling another's sources);
  4. a target linking, directly or through other targets, a library of a
     higher layer or of another program;
  5. a target linking an external library reserved to one part
     (libtorch: trainer; hwloc: agent; MPI: trainer);
  6. a library (a layer below the programs) building a program's command
     line: a string literal that is one option ("--threads") on its own, not
     the tail of a message; the program that runs another builds its argv.

Data-driven: LAYERS maps each folder to its layer (and program), EXTERNAL
maps external libraries to the folders that may link them.  Usage:

    test_layers.py SOURCE_DIR      check the tree (ctest: layers)
    test_layers.py --selftest      the checker finds each kind of wrong-way arrow
                                   in small synthetic trees (ctest: layers_selftest)
"""
import os
import re
import sys
import tempfile

# folder -> layer; a layer >= PROGRAM makes each folder a program of its own.
PROGRAM = 3
LAYERS = {
    "core": 0,      # errors, log, jobs, store, protocol, profile types, home
    "planner": 1,   # model, ranking, the choice of a layout
    "http": 1,      # the HTTP layer (libmicrohttpd) of autodist ui and autodist serve
    "infer": 1,     # inference artifacts: load, run, quantise, prune (libtorch), image decoding
    "grid5000": 2,  # reservation backends (uses the planner for described hardware)
    "cli": PROGRAM,
    "daemon": PROGRAM,
    "agent": PROGRAM,
    "trainer": PROGRAM,
    "serve": PROGRAM,
    "bench": PROGRAM,  # benchmark tools: programs too
}

# External libraries (as CMakeLists.txt names them) -> folders allowed to link them.
EXTERNAL = {
    "${TORCH_LIBRARIES}": {"trainer", "infer"},
    "PkgConfig::HWLOC": {"agent"},
    "MPI::MPI_C": {"trainer"},
    "PkgConfig::MHD": {"http"},
}

# Arrows tolerated for now, as (user folder, used folder, header or library); empty when the layers hold.
EXCEPTIONS = set()

SOURCE_EXT = (".c", ".h", ".cpp")


def home(path):
    """The folder (a key of LAYERS) a source path lives in, or None."""
    top = path.replace("\\", "/").split("/")[0]
    return top if top in LAYERS else None


def allowed(user, used):
    """May code living in folder user depend on code living in folder used?"""
    if user == used:
        return True
    return LAYERS[used] < LAYERS[user] and LAYERS[used] < PROGRAM


def describe(folder):
    layer = LAYERS[folder]
    return "program %s" % folder if layer >= PROGRAM else "%s (layer %d)" % (folder, layer)


def sources(root):
    for top in sorted(LAYERS):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith(SOURCE_EXT):
                    yield os.path.relpath(os.path.join(dirpath, f), root)


def implementations(root):
    """Module name (ad_x) -> the folders holding ad_x.c / ad_x.cpp."""
    impl = {}
    for rel in sources(root):
        base, ext = os.path.splitext(os.path.basename(rel))
        if ext in (".c", ".cpp"):
            impl.setdefault(base, set()).add(home(rel))
    return impl


def check_includes(root, errors):
    impl = implementations(root)
    files = list(sources(root))
    inc = os.path.join(root, "include", "autodist")
    headers = sorted(os.listdir(inc)) if os.path.isdir(inc) else []
    for h in headers:
        where = impl.get(os.path.splitext(h)[0], set())
        if len(where) > 1:
            errors.append("include/autodist/%s: implemented in several folders: %s"
                          % (h, ", ".join(sorted(where))))
    # A public header lives with its implementation; a header without one (types only) in core.
    owners = [(rel, home(rel)) for rel in files]
    for h in headers:
        where = sorted(impl.get(os.path.splitext(h)[0], {"core"}))
        owners.append((os.path.join("include", "autodist", h), where[0]))
    for rel, user in owners:
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for m in re.finditer(r'^\s*#\s*include\s+"([^"]+)"', text, re.M):
            target = m.group(1)
            line = text.count("\n", 0, m.start()) + 1
            if target.startswith("autodist/"):
                name = target[len("autodist/"):]
                for used in sorted(impl.get(os.path.splitext(name)[0], {"core"})):
                    if allowed(user, used) or (user, used, name) in EXCEPTIONS:
                        continue
                    errors.append("%s:%d: includes %s, implemented in %s, from %s"
                                  % (rel, line, target, describe(used), describe(user)))
            elif "/" in target:
                parts = [p for p in target.split("/") if p not in (".", "..")]
                if parts and parts[0] in LAYERS and parts[0] != user:
                    errors.append("%s:%d: includes %s from another folder"
                                  % (rel, line, target))


def check_options(root, errors):
    """No library layer holds a program's option as a string literal of its own."""
    for rel in sources(root):
        if LAYERS[home(rel)] >= PROGRAM:
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            text = f.read()
        text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
        found = []
        for m in re.finditer(r'"(--[a-z][a-z0-9-]*)"', text):
            if not text[:m.start()].rstrip().endswith('"'):  # not the tail of a message
                found.append((text.count("\n", 0, m.start()) + 1, m.group(1)))
        if found:
            errors.append("%s:%d: builds a command line (%s) in %s: the program that runs "
                          "it does" % (rel, found[0][0], " ".join(o for _, o in found[:4]) +
                                       (" ..." if len(found) > 4 else ""), describe(home(rel))))


def cmake_calls(text):
    """(command, [arguments]) of a CMake file, comments stripped."""
    text = re.sub(r"#[^\n]*", "", text)
    for m in re.finditer(r"\b(add_library|add_executable|target_sources|target_link_libraries)"
                         r"\s*\(([^)]*)\)", text):
        yield m.group(1), m.group(2).split()


def check_links(root, errors):
    path = os.path.join(root, "CMakeLists.txt")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    srcs, links = {}, {}
    keywords = {"STATIC", "SHARED", "OBJECT", "MODULE", "PUBLIC", "PRIVATE", "INTERFACE",
                "EXCLUDE_FROM_ALL", "WIN32", "MACOSX_BUNDLE"}
    for cmd, args in cmake_calls(text):
        name, rest = args[0], [a for a in args[1:] if a not in keywords]
        if cmd in ("add_library", "add_executable", "target_sources"):
            srcs.setdefault(name, []).extend(
                a.replace("${CMAKE_SOURCE_DIR}/", "").replace("${CMAKE_CURRENT_SOURCE_DIR}/", "")
                for a in rest)
        else:
            links.setdefault(name, []).extend(rest)
    homes = {}
    for t, files in srcs.items():
        folders = {home(s) for s in files if s.endswith(SOURCE_EXT)} - {None}
        if len(folders) > 1:
            errors.append("CMakeLists.txt: target %s compiles sources of %s"
                          % (t, ", ".join(describe(f) for f in sorted(folders))))
        if folders:
            homes[t] = sorted(folders, key=lambda f: -LAYERS[f])[0]

    def closure(t, seen):
        for lib in links.get(t, []):
            if lib in homes and lib not in seen:
                seen.add(lib)
                closure(lib, seen)
        return seen

    for t in sorted(homes):
        user = homes[t]
        for lib in sorted(closure(t, set())):
            used = homes[lib]
            if allowed(user, used) or (user, used, lib) in EXCEPTIONS:
                continue
            errors.append("CMakeLists.txt: %s (%s) links %s (%s)"
                          % (t, describe(user), lib, describe(used)))
        for lib in links.get(t, []):
            ok = EXTERNAL.get(lib)
            if ok is not None and user not in ok:
                if any((user, o, lib) in EXCEPTIONS for o in ok):
                    continue
                errors.append("CMakeLists.txt: %s (%s) links %s, reserved to %s"
                              % (t, describe(user), lib, ", ".join(sorted(ok))))


def check(root):
    errors = []
    check_includes(root, errors)
    check_links(root, errors)
    check_options(root, errors)
    return errors


def selftest():
    """Each kind of wrong-way arrow in a small tree is found; the clean tree passes."""
    clean = {
        "core/ad_job.c": '#include "autodist/ad_job.h"\n'
                         'static const char *s = "cannot find it; pass "\n    "--home";\n',
        "include/autodist/ad_job.h": "",
        "include/autodist/ad_planner.h": '#include "autodist/ad_job.h"\n',
        "planner/ad_planner.c": '#include "autodist/ad_planner.h"\n',
        "cli/autodist.c": '#include "autodist/ad_planner.h"\n',
        "daemon/autodistd.c": '#include "autodist/ad_job.h"\n',
        "agent/ad_agent.c": "",
        "trainer/torch/ad_torch.cpp": "",
        "include/autodist/ad_torch.h": "",
        "CMakeLists.txt": "add_library(adcore STATIC core/ad_job.c)\n"
                          "add_library(adplanner STATIC planner/ad_planner.c)\n"
                          "target_link_libraries(adplanner PUBLIC adcore m)\n"
                          "add_library(adtorch STATIC trainer/torch/ad_torch.cpp)\n"
                          "target_link_libraries(adtorch PUBLIC ${TORCH_LIBRARIES})\n"
                          "add_executable(autodist cli/autodist.c)\n"
                          "target_link_libraries(autodist PRIVATE adplanner)\n"
                          "add_executable(autodistd daemon/autodistd.c)\n"
                          "add_executable(autodist-agent agent/ad_agent.c)\n",
    }
    bad = {
        "core includes the planner": {
            "core/ad_job.c": '#include "autodist/ad_planner.h"\n'},
        "a program includes another's header": {
            "daemon/ad_auto.c": "", "include/autodist/ad_auto.h": "",
            "cli/autodist.c": '#include "autodist/ad_auto.h"\n'},
        "a public header includes a program's": {
            "include/autodist/ad_job.h": '#include "autodist/ad_torch.h"\n'},
        "a relative include into another folder": {
            "cli/autodist.c": '#include "../daemon/ad_x.h"\n'},
        "a program compiles another's source": {
            "CMakeLists.txt": clean["CMakeLists.txt"].replace(
                "add_executable(autodist cli/autodist.c)",
                "add_executable(autodist cli/autodist.c daemon/autodistd.c)")},
        "a program links another's library": {
            "daemon/ad_auto.c": "",
            "CMakeLists.txt": clean["CMakeLists.txt"] +
                              "add_library(adauto STATIC daemon/ad_auto.c)\n"
                              "target_link_libraries(autodist PRIVATE adauto)\n"},
        "a program links libtorch through the trainer's library": {
            "CMakeLists.txt": clean["CMakeLists.txt"] +
                              "target_link_libraries(autodist-agent PRIVATE adtorch)\n"},
        "a program links an external library reserved to another": {
            "CMakeLists.txt": clean["CMakeLists.txt"] +
                              "target_link_libraries(autodistd PRIVATE ${TORCH_LIBRARIES})\n"},
        "core builds a program's command line": {
            "core/ad_job.c": 'static void f(void) { s_arg(argv, "--model", m); }\n'
                             'static const char *s = "cannot find it; pass "\n    "--home";\n'},
        "a library links a higher layer": {
            "CMakeLists.txt": clean["CMakeLists.txt"] +
                              "target_link_libraries(adcore PUBLIC adplanner)\n"},
    }
    failures = 0
    cases = [("the clean tree", {})] + list(bad.items())
    for what, changes in cases:
        with tempfile.TemporaryDirectory() as root:
            for rel, body in dict(clean, **changes).items():
                os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
                with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
                    f.write(body)
            errors = check(root)
            if bool(errors) != bool(changes):
                failures += 1
                print("selftest: %s: %s" % (what, "; ".join(errors) or "not found"))
    print("selftest: %d of %d cases right" % (len(cases) - failures, len(cases)))
    return 1 if failures else 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--selftest":
        return selftest()
    if len(argv) != 2:
        print("usage: test_layers.py SOURCE_DIR | --selftest", file=sys.stderr)
        return 2
    errors = check(argv[1])
    for e in errors:
        print(e)
    print("layers: %s" % ("%d wrong-way arrow(s)" % len(errors) if errors else "ok"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
