"""Daytona's charts example with the official Python SDK against `ralph-town serve`: code run
through `sandbox.process.code_run` that draws with matplotlib and calls `plt.show()` gets each
figure back in `response.artifacts.charts`, parsed by the SDK into its chart classes, with the
marker lines gone from `result`; code without matplotlib is untouched, and a failure after the
import reports the code's own frames only.

Run by `tests/serve_sdk_charts.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an
in-process server; the sandbox's `python3` must have matplotlib. Any failure exits non-zero with
a traceback.
"""

import base64

from daytona import BarChart, ChartType, LineChart, PieChart, ScatterChart
from sdk_script import client, fresh_sandbox, run_script, stepper

step = stepper("sdk-charts")

PNG = b"\x89PNG\r\n\x1a\n"
MARKER = "dtn_artifact_k39fd2"

CODE = """
import matplotlib.pyplot as plt

print("before the charts")
plt.figure(figsize=(4, 3))
plt.plot([0, 1, 2, 3], [0, 1, 4, 9], label="squares")
plt.title("Line Chart")
plt.xlabel("x")
plt.ylabel("x squared")
plt.show()

plt.figure(figsize=(4, 3))
plt.bar(["A", "B", "C"], [3, 7, 5.5])
plt.title("Bar Chart")
plt.xlabel("Categories")
plt.ylabel("Count")
plt.show()
print("after the charts")
"""

MORE = """
import matplotlib.pyplot as plt
plt.scatter([1, 2], [3, 4])
plt.title("Scatter")
plt.show()
plt.pie([1, 3], labels=["one", "three"])
plt.title("Pie")
plt.show()
"""


def png(chart):
    data = base64.b64decode(chart.png)
    assert data.startswith(PNG), data[:16]
    return data


def main():
    daytona = client()
    _, sandbox = fresh_sandbox(daytona, "charts")

    step("line and bar")
    reply = sandbox.process.code_run(CODE)
    assert reply.exit_code == 0, reply.result
    assert MARKER not in reply.result, reply.result
    assert reply.result == "before the charts\nafter the charts\n", reply.result
    assert reply.artifacts.stdout == reply.result
    charts = reply.artifacts.charts
    assert [chart.type for chart in charts] == [ChartType.LINE, ChartType.BAR], charts
    line, bar = charts
    assert isinstance(line, LineChart), type(line)
    assert line.title == "Line Chart"
    assert (line.x_label, line.y_label) == ("x", "x squared")
    assert [e.label for e in line.elements] == ["squares"]
    assert line.elements[0].points == [[0, 0], [1, 1], [2, 4], [3, 9]], line.elements[0].points
    png(line)
    assert isinstance(bar, BarChart), type(bar)
    assert bar.title == "Bar Chart"
    assert (bar.x_label, bar.y_label) == ("Categories", "Count")
    assert [(e.label, e.value) for e in bar.elements] == [("A", "3"), ("B", "7"), ("C", "5.5")]
    png(bar)
    assert png(line) != png(bar)

    step("scatter and pie")
    reply = sandbox.process.code_run(MORE)
    assert reply.exit_code == 0, reply.result
    scatter, pie = reply.artifacts.charts
    assert isinstance(scatter, ScatterChart) and scatter.title == "Scatter", scatter.type
    assert scatter.elements[0].points == [[1, 3], [2, 4]]
    assert isinstance(pie, PieChart) and pie.title == "Pie", pie.type
    assert [e.label for e in pie.elements] == ["one", "three"]
    assert [round(e.angle) for e in pie.elements] == [90, 270], pie.elements

    step("no show, no matplotlib")
    reply = sandbox.process.code_run("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nprint('quiet')")
    assert (reply.exit_code, reply.result, reply.artifacts.charts) == (0, "quiet\n", []), reply
    reply = sandbox.process.code_run("import sys\nprint(sys.argv[0], __name__)")
    assert (reply.exit_code, reply.result, reply.artifacts.charts) == (0, "- __main__\n", []), reply

    step("a failure shows the code's frames")
    reply = sandbox.process.code_run("import matplotlib\n\ndef f():\n    return 1 / 0\n\nf()\n")
    assert reply.exit_code == 1, reply
    assert reply.result == (
        "Traceback (most recent call last):\n"
        '  File "<stdin>", line 6, in <module>\n'
        '  File "<stdin>", line 4, in f\n'
        "ZeroDivisionError: division by zero\n"
    ), reply.result

    sandbox.delete()
    step("done")


run_script(main)
