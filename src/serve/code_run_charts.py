"""What `code_run` runs instead of Python code that uses matplotlib, as Daytona's daemon does:
it runs the code (embedded below, base64) as `python3 -` would, in a fresh `__main__` whose
file name is `<stdin>`, and makes `matplotlib.pyplot.show()` print each open figure as one
line `dtn_artifact_k39fd2:{"type": "chart", "value": {...}}` (the chart: type, title, axes,
elements, the PNG in base64) before closing it. `serve` cuts those lines out of the output and
answers them as `artifacts.charts`.

It must not change what the code does otherwise: nothing is imported before the code imports
`matplotlib.pyplot` itself, a missing matplotlib fails exactly as without this file, a chart
that cannot be read becomes `unknown` rather than an error, and a failure of the code prints
only the code's own frames and exits 1, as Python does.
"""

import base64
import io
import json
import math
import sys
import traceback
import types
from importlib.abc import Loader, MetaPathFinder
from importlib.util import find_spec, spec_from_loader

MARKER = "dtn_artifact_k39fd2:"
FILE = "<stdin>"
CODE = "{code}"

mpl = None


def number(value):
    """`value` as a JSON number, or None when it is not a finite one (dates become
    matplotlib's day numbers)."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        try:
            result = float(mpl.dates.date2num(value))
        except Exception:  # noqa: BLE001 - anything unreadable is left out
            return None
    return result if math.isfinite(result) else None


def numbers(values):
    return [n for n in (number(value) for value in values) if n is not None]


def text(value):
    """A bar's value as the daemon's wire carries it: a string."""
    n = number(value)
    if n is None:
        return str(value)
    return str(int(n)) if n.is_integer() else repr(n)


def points(pairs):
    result = []
    for x, y in pairs:
        x, y = number(x), number(y)
        if x is not None and y is not None:
            result.append([x, y])
    return result


def is_rule(line):
    """A two-point horizontal or vertical line (`axhline`, `axvline`): not data."""
    xs, ys = line.get_xdata(), line.get_ydata()
    return len(xs) == 2 and len(ys) == 2 and (xs[0] == xs[1] or ys[0] == ys[1])


def kind(ax):
    patches = [p for p in ax.patches if not isinstance(p, mpl.patches.Shadow)]
    lines = [line for line in ax.lines if not is_rule(line)]
    collections = list(ax.collections)
    wedges = [p for p in patches if isinstance(p, mpl.patches.Wedge)]
    boxes = [p for p in patches if isinstance(p, mpl.patches.PathPatch)]
    bars = [c for c in ax.containers if isinstance(c, mpl.container.BarContainer)]
    if wedges and len(wedges) == len(patches) and not lines and not collections:
        return "pie"
    if boxes and len(boxes) == len(patches) and not collections:
        return "box_and_whisker"
    if bars and all(isinstance(p, mpl.patches.Rectangle) for p in patches) and not collections:
        return "bar"
    if collections and not patches and not lines:
        return "scatter"
    if ax.lines and not patches and not collections:
        return "line"
    return "unknown"


def tick_label(axis_ticks, labels, at, within):
    """The tick label nearest `at` (within `within`), else `at` itself."""
    best = None
    for tick, label in zip(axis_ticks, labels):
        if abs(tick - at) <= within and (best is None or abs(tick - at) < abs(best[0] - at)):
            best = (tick, label)
    return best[1] if best and best[1] else text(at)


def bar_elements(ax):
    elements = []
    horizontal = False
    for container in ax.containers:
        if not isinstance(container, mpl.container.BarContainer):
            continue
        horizontal = getattr(container, "orientation", None) == "horizontal"
        values = getattr(container, "datavalues", None)
        for index, rect in enumerate(container.patches):
            if horizontal:
                at, size = rect.get_y() + rect.get_height() / 2, rect.get_height()
                ticks, labels = ax.get_yticks(), ax.get_yticklabels()
                value = rect.get_width()
            else:
                at, size = rect.get_x() + rect.get_width() / 2, rect.get_width()
                ticks, labels = ax.get_xticks(), ax.get_xticklabels()
                value = rect.get_height()
            if values is not None and index < len(values):
                value = values[index]
            label = tick_label(ticks, [t.get_text() for t in labels], at, size / 2)
            elements.append({"label": label, "group": container.get_label(), "value": text(value)})
    return elements, horizontal


def box_elements(ax):
    """Each box (a `boxplot(patch_artist=True)` patch) with the lines that touch it: median,
    whiskers, outlier markers. Vertical boxes share a width, horizontal ones a height."""
    extents = []
    for patch in ax.patches:
        vertices = patch.get_path().vertices
        xs, ys = vertices[:, 0], vertices[:, 1]
        extents.append((min(xs), max(xs), min(ys), max(ys)))
    widths = {round(e[1] - e[0], 9) for e in extents}
    heights = {round(e[3] - e[2], 9) for e in extents}
    horizontal = len(heights) == 1 and len(widths) > 1
    ticks = ax.get_yticks() if horizontal else ax.get_xticks()
    labels = [t.get_text() for t in (ax.get_yticklabels() if horizontal else ax.get_xticklabels())]
    elements = []
    for low_x, high_x, low_y, high_y in extents:
        if horizontal:
            (low_x, high_x), (low_y, high_y) = (low_y, high_y), (low_x, high_x)
        center = (low_x + high_x) / 2
        box = {
            "label": tick_label(ticks, labels, center, (high_x - low_x) / 2),
            "min": low_y,
            "first_quartile": low_y,
            "median": None,
            "third_quartile": high_y,
            "max": high_y,
            "outliers": [],
        }
        for line in ax.lines:
            xs, ys = numbers(line.get_xdata()), numbers(line.get_ydata())
            if horizontal:
                xs, ys = ys, xs
            if not xs or not all(low_x - 1e-9 <= x <= high_x + 1e-9 for x in xs):
                continue
            if line.get_linestyle() in ("None", "", " ") and all(abs(x - center) < 1e-6 for x in xs):
                box["outliers"].extend(ys)
            elif len(ys) == 2 and ys[0] == ys[1] and low_y < ys[0] < high_y:
                box["median"] = ys[0]
            elif len(xs) == 2 and xs[0] == xs[1]:
                box["min"] = min(box["min"], *ys)
                box["max"] = max(box["max"], *ys)
        elements.append(box)
    return elements, horizontal


def chart(ax):
    data = {
        "title": ax.get_title(),
        "x_label": ax.get_xlabel(),
        "y_label": ax.get_ylabel(),
        "x_ticks": numbers(ax.get_xticks()),
        "x_tick_labels": [t.get_text() for t in ax.get_xticklabels()],
        "x_scale": ax.get_xscale(),
        "y_ticks": numbers(ax.get_yticks()),
        "y_tick_labels": [t.get_text() for t in ax.get_yticklabels()],
        "y_scale": ax.get_yscale(),
    }
    data["type"] = kind(ax)
    swap = False
    if data["type"] == "line":
        data["elements"] = [
            {"label": line.get_label(), "points": points(zip(line.get_xdata(), line.get_ydata()))}
            for line in ax.lines
            if not is_rule(line)
        ]
    elif data["type"] == "scatter":
        data["elements"] = [
            {"label": c.get_label(), "points": points(c.get_offsets())} for c in ax.collections
        ]
    elif data["type"] == "bar":
        data["elements"], swap = bar_elements(ax)
    elif data["type"] == "box_and_whisker":
        data["elements"], swap = box_elements(ax)
    elif data["type"] == "pie":
        data["elements"] = [
            {"label": w.get_label(), "angle": abs(w.theta2 - w.theta1), "radius": w.r}
            for w in ax.patches
            if isinstance(w, mpl.patches.Wedge)
        ]
    else:
        data["elements"] = []
    if swap:
        # As the daemon does: `x_label` names the categories' axis, whichever way it runs.
        data["x_label"], data["y_label"] = data["y_label"], data["x_label"]
    return data


def is_chart_axes(ax):
    """Leaves out colorbars and the empty axes of an unfilled subplot grid."""
    if getattr(ax, "_colorbar", None) is not None:
        return False
    return ax.get_subplotspec() is None or ax.has_data()


def figure_value(figure):
    try:
        charts = [chart(ax) for ax in figure.axes if is_chart_axes(ax)]
        if len(charts) > 1:
            title = figure._suptitle.get_text() if getattr(figure, "_suptitle", None) else ""
            value = {"type": "composite_chart", "title": title, "elements": charts}
        else:
            value = charts[0] if charts else {"type": "unknown", "elements": []}
    except Exception:  # noqa: BLE001 - an odd figure is still a chart, of unknown type
        value = {"type": "unknown", "elements": []}
    png = io.BytesIO()
    figure.savefig(png, format="png", bbox_inches="tight", dpi=100)
    value["png"] = base64.b64encode(png.getvalue()).decode()
    return value


def show_charts(pyplot):
    """Prints every open figure as a chart line, then closes them all, so nothing blocks on a
    window and a later `show()` prints only newer figures."""
    for number_ in pyplot.get_fignums():
        try:
            value = figure_value(pyplot.figure(number_))
        except Exception:  # noqa: BLE001 - a figure that cannot be drawn is not a chart
            continue
        line = json.dumps({"type": "chart", "value": value}, allow_nan=False)
        out = sys.__stdout__ or sys.stdout
        out.write(f"{MARKER}{line}\n")
        out.flush()
    pyplot.close("all")


class PyplotLoader(Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        global mpl
        self.loader.exec_module(module)
        import matplotlib

        mpl = matplotlib
        for name in ("container", "dates", "patches"):
            __import__(f"matplotlib.{name}")

        def show(*args, **kwargs):  # noqa: ARG001 - `block` and the rest mean nothing here
            show_charts(module)

        module.show = show


class PyplotFinder(MetaPathFinder):
    """Hands out `matplotlib.pyplot` with `show` replaced, once."""

    def __init__(self):
        self.done = False

    def find_spec(self, fullname, path, target=None):  # noqa: ARG002
        if fullname != "matplotlib.pyplot" or self.done:
            return None
        self.done = True
        spec = find_spec(fullname)
        if spec is None or spec.loader is None:
            return None
        return spec_from_loader(
            fullname,
            PyplotLoader(spec.loader),
            origin=spec.origin,
            is_package=spec.submodule_search_locations is not None,
        )


def main():
    source = base64.b64decode(CODE).decode()
    this = sys.modules["__main__"]
    module = types.ModuleType("__main__")
    for name in ("__builtins__", "__loader__", "__spec__", "__package__"):
        setattr(module, name, getattr(this, name, None))
    module.__annotations__ = {}
    sys.modules["__main__"] = module
    sys.meta_path.insert(0, PyplotFinder())
    try:
        exec(compile(source, FILE, "exec"), module.__dict__)  # noqa: S102 - running it is the point
    except SyntaxError as error:
        traceback.print_exception(type(error), error, None)
        sys.exit(1)
    except Exception as error:  # noqa: BLE001 - reported as Python reports it
        # This file is `<stdin>` too: its own frame is told apart by its code.
        frames = error.__traceback__
        while frames is not None and frames.tb_frame.f_code is main.__code__:
            frames = frames.tb_next
        traceback.print_exception(type(error), error, frames)
        sys.exit(1)


main()
