"""Blind expert review: sets.py builds and records review sets (RAG and raw side by side,
unlabelled); stats.py agreement, kappa and Wilson intervals over the ratings.

Does not render anything (ui/review.py) or call retrieval itself (it takes the parts in).
"""
