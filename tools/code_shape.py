"""The shape of the code: the longest classes and functions and the widest
signatures of a package, checked against the project's limits.

    python tools/code_shape.py            # keras_rin: report, exit 1 if over
    python tools/code_shape.py --top 10 --package keras_rin

Limits (docs/architecture.md): a class of at most `--max-class-lines`
lines (450), and no function or method over `--max-parameters`
parameters (8, `self` and `cls` not counted; `*args` and `**kwargs` count
as nothing). Public constructors (`__init__`) and the public methods that
mirror a Keras signature or a user-facing option list (`generate*`,
`export_*`, `compute_*`, `from_preset`, `load_*`) are exempt from the
parameter limit: keras-hub's explicit signatures are part of the API.
"""

import argparse
import ast
import pathlib
import sys

EXEMPT_PREFIXES = (
    "generate",
    "export_",
    "load_",
    "compute_",
    "from_preset",
)


def parameter_count(node):
    args = node.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names)


def is_exempt(name):
    return name == "__init__" or name.startswith(EXEMPT_PREFIXES)


def measure(package):
    """`(classes, functions)`: lists of `(lines, parameters, where)`."""
    classes, functions = [], []
    for path in sorted(pathlib.Path(package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            lines = getattr(node, "end_lineno", 0) - getattr(node, "lineno", 0)
            if isinstance(node, ast.ClassDef):
                classes.append((lines + 1, 0, f"{path}:{node.name}"))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append(
                    (lines + 1, parameter_count(node), f"{path}:{node.name}")
                )
    return classes, functions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="keras_rin")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--max-class-lines", type=int, default=450)
    parser.add_argument("--max-parameters", type=int, default=8)
    args = parser.parse_args(argv)
    classes, functions = measure(args.package)
    longest = sorted(classes, reverse=True)[: args.top]
    print("Longest classes (lines):")
    for lines, _, where in longest:
        print(f"  {lines:5d}  {where}")
    print("Longest functions (lines):")
    for lines, _, where in sorted(functions, reverse=True)[: args.top]:
        print(f"  {lines:5d}  {where}")
    widest = sorted(functions, key=lambda f: (-f[1], f[2]))[: args.top]
    print("Widest signatures (parameters):")
    for _, count, where in widest:
        print(f"  {count:5d}  {where}")
    problems = [
        f"class {where} has {lines} lines (limit {args.max_class_lines})"
        for lines, _, where in classes
        if lines > args.max_class_lines
    ] + [
        f"{where} takes {count} parameters (limit {args.max_parameters})"
        for _, count, where in functions
        if count > args.max_parameters and not is_exempt(where.split(":")[1])
    ]
    for problem in problems:
        print(f"OVER THE LIMIT: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
