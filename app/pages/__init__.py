"""The zh-CN pages: desk, wallboard, callback monitor."""
