"""The window the accessibility tests drive inside a sandbox (uploaded there by
`a11y_test.py` and `tests/sdk-ts/a11y_test.mjs`): GTK 3, titled `A11y Probe`, with a button
`Press me` whose click writes `~/clicked.txt` and an entry named `Your name` whose every change
is written to `~/entry.txt`. With `--hang` it is `Hung Probe` with a button `Hung button`, and
its main loop blocks once the window shows, so that it answers no accessibility call.
"""

import os
import sys
import time

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import GLib, Gtk  # noqa: E402 - after the version is chosen

hang = "--hang" in sys.argv[1:]

home = os.path.expanduser("~")


def write(name, text):
    with open(os.path.join(home, name), "w") as file:
        file.write(text)


window = Gtk.Window(title="Hung Probe" if hang else "A11y Probe")
box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL)
button = Gtk.Button(label="Hung button" if hang else "Press me")
button.connect("clicked", lambda _button: write("clicked.txt", "clicked"))
entry = Gtk.Entry()
entry.get_accessible().set_name("Your name")
entry.connect("changed", lambda changed: write("entry.txt", changed.get_text()))
box.add(button)
box.add(entry)
window.add(box)
window.connect("destroy", Gtk.main_quit)
window.show_all()
if hang:
    GLib.timeout_add(500, lambda: time.sleep(3600))
Gtk.main()
