"""Only what setup.cfg cannot declare: the emulator's optional C extension (topo.emulator.fastio.c).

``optional=True``: where it does not compile, installing still succeeds and the emulator runs its
Python path (topo/emulator/frame_io.py says which path ran in each emulator's counters).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("topo.emulator.fastio", ["topo/emulator/fastio.c"], optional=True,
                             extra_compile_args=["-O2", "-Wall"])])
