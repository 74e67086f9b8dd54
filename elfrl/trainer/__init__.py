"""ELF-VLA feedback GRPO: config, loss, group logic, the TRL subclass and the recipe (launch/grpo_feedback.py)."""

from elfrl.trainer.config import GRPOFeedbackConfig, TeacherEndpoint
from elfrl.trainer.loss import LossTerms, feedback_grpo_loss, shaped_weight
from elfrl.trainer.teacher import AnalyticTeacher, Diagnosis, Teacher

__all__ = ["AnalyticTeacher", "Diagnosis", "GRPOFeedbackConfig", "LossTerms", "Teacher", "TeacherEndpoint",
           "feedback_grpo_loss", "shaped_weight"]
