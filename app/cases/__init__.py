"""Tickets (工单): intake from calls, the workflow, the desk's edits."""
