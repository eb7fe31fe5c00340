"""Satisfaction callbacks (满意度回访): the dialler service and its monitor."""
