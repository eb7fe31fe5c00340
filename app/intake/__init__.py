"""Intake from the non-phone channels (web form, WeChat, app, 市长信箱, message boards, the
provincial platform), the provincial batch import, the push-back outbox (回传) and the
citizen's public pages (网上表单, 办件查询)."""
