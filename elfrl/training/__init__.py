"""Training stages: supervised fine-tuning (`elfrl.training.sft`, recipe `launch/sft.py`) and its checks.

Modules are imported directly (`from elfrl.training.sft import SFTStageConfig`), so importing this
package does not pull in TRL.
"""
