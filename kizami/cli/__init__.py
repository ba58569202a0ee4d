"""The ``kizami`` command line, the top layer: ``app`` (the table of commands and ``main``), one module per group of
commands, ``render`` (tables, progress and one-line errors) and ``doctor``. Nothing below imports it."""
