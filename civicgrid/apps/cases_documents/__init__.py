"""Documents of the case loop: the case ledger (台账) as xlsx and a case file (案卷) as PDF.

Reads go through the cases app's selectors (scoped); every download is audited as an export. No models: this
package is a library with its pages (`pages.py`, mounted under /documents/).
"""
