"""What people decided about a class, stored in its gradebook: TA overrides, comments, similarity decisions,
and the final points they make (final.py), which every export reads.  The review app (grader/review/)
writes them; batch and the exports read them here, below the app."""
