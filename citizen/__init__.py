"""Citizen Cloud: a household daemon that keeps its data at home and its copies with friends."""
