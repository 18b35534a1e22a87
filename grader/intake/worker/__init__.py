"""The intake's worker side: decoding, extracting and parsing student files, inside the sandbox only.

Nothing here runs in the grader's process: reader.py sends the files' bytes to a worker that runs
`task.TASK` (the worker imports this package by reference, sandbox/tasks.find), and the host reads
back typed `FileAnalysis` records.  Host-side intake (reader, select, archive, files, ...) is the
package above; it imports only `task` from here, for the task's params and result.
"""
