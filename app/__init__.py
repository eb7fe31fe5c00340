"""The composition root: builds every part from settings, wires them on the bus, serves HTTP.

``create_app(settings)`` is the only place where the IVR, CTI and ticket services meet.
"""
