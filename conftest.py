"""Root pytest configuration: applies to tests/ and to nbval's run of chapters/.

nbval starts each notebook's kernel from this process, which inherits these
variables: no progress bars (they would differ from the stored outputs) and a
fixed hash seed, whichever way pytest is invoked.

It also teaches nbval the book's two kinds of output (CONTRIBUTING.md): exact
outputs are compared as text, strictly; a learned number glued with
``vae_lib.book.claim`` is compared with its stored value within its tolerance.
"""
import os

os.environ.setdefault("VAE_LIB_NO_PROGRESS", "1")
os.environ.setdefault("PYTHONHASHSEED", "0")

try:
    import nbval.plugin as _nbval
except ImportError:  # nbval is only needed for the chapters
    _nbval = None

if _nbval is not None:
    import nbval.kernel as _nbval_kernel

    from vae_lib.book import reconcile_claims

    def _execute_as_jupyter_does(self, cell_input, allow_stdin=None):
        # nbval sends store_history=False; IPython then judges a trailing ';' by an older
        # history entry, so a cell ending in "glue(...);" would display its value here
        # but not in Jupyter, Colab or scripts/execute.py
        return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)

    _nbval_kernel.RunningKernel.execute_cell_input = _execute_as_jupyter_does

    _strict_compare = _nbval.IPyNbCell.compare_outputs

    def _compare_with_claims(self, test, ref, skip_compare=None):
        test, problems = reconcile_claims(test, ref)
        same = _strict_compare(self, test, ref, skip_compare)
        if problems:
            refresh = f".venv/bin/python scripts/execute.py {os.path.relpath(str(self.fspath))}"
            self.comparison_traceback.extend(
                [*problems, f"If the change is intended, re-execute the chapter: {refresh}"])
        if not same:  # nbval names an unexpected stream but not what it said: say it
            for o in test:
                if o.get("output_type") == "stream" and o.get("name") == "stderr":
                    self.comparison_traceback.append(f"the cell wrote to stderr: {o.get('text', '')[:3000]}")
        return same and not problems

    _nbval.IPyNbCell.compare_outputs = _compare_with_claims
