"""Surge alerts (突增预警): the detector pass on the node's scheduler, the stored alerts, the
supervisors' list and acknowledgement."""
