"""Root pytest configuration: applies to tests/ and to nbval's run of chapters/.

nbval starts each notebook's kernel from this process, which inherits these
variables: no progress bars (they would differ from the stored outputs) and a
fixed hash seed, whichever way pytest is invoked.
"""
import os

os.environ.setdefault("VAE_LIB_NO_PROGRESS", "1")
os.environ.setdefault("PYTHONHASHSEED", "0")
