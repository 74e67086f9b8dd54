"""Feedback for the student: the teacher's typed diagnostic report, failure cases, the analytic teacher."""

from elfrl.feedback.analytic import analytic_report, build_case
from elfrl.feedback.report import DiagnosticReport, FailureCase, render_feedback

__all__ = ["DiagnosticReport", "FailureCase", "analytic_report", "build_case", "render_feedback"]
