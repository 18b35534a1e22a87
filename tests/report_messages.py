"""Messages for the report tests' hand-made reports: a small catalog of test ids in English and Chinese.

The reporters render `Message`s by id; the reports the tests build by hand (no grading
run) need ids whose text does not change when a check rewords its own.  Importing this
module writes the catalog below to a temporary folder and adds it with
`grader.text.add_locale_dir`, beside the grader's own catalogs; `m("test.ok")` is
then a message like any check's.  Ids from the grader's catalogs (error_hint.timeout,
grader.internal_error) are used directly where the tests mean them.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from grader.text import Arg, Message, add_locale_dir, msg
from grader.text.po_add import add

TEXTS: dict[str, tuple[str, str]] = {
    "test.ok": ("ok", "通过"),
    "test.layer_passed": ("{name}.backward matches the numerical gradient", "{name}.backward 与数值梯度一致"),
    "test.grad_failed": ("gradient check failed for `{name}.backward` w.r.t. `{wrt}`: {bad} / {total} elements differ",
                         "`{name}.backward` 对 `{wrt}` 的梯度检查未通过：{total} 个元素中有 {bad} 个不一致"),
    "test.grad_wrong": ("{name}.backward: {grad} is wrong", "{name}.backward：{grad} 不正确"),
    "test.transposed_shape": ("{grad} has shape {got} but {param} has shape {want}: return x.T @ grad_y, not grad_y.T @ x",
                              "{grad} 的形状是 {got}，但 {param} 的形状是 {want}：应返回 x.T @ grad_y，而不是 grad_y.T @ x"),
    "test.raised": ("`{where}` raised {error}", "`{where}` 抛出了异常 {error}"),
    "test.training_raised": ("training raised {error}", "训练时抛出了异常 {error}"),
    "test.not_run": ("not run because {check} failed", "没有运行，因为 {check} 未通过"),
    "test.overflow": ("softmax overflows for inputs near {value}", "输入接近 {value} 时 softmax 溢出"),
    "test.cell_invalid": ("cell {cell} is not valid Python; skipped", "第 {cell} 个单元格不是有效的 Python 代码，已跳过"),
    "test.not_code": ("not a code file; ignored", "不是代码文件，已忽略"),
    "test.not_utf8": ("file is not UTF-8; skipped", "文件不是 UTF-8 编码，已跳过"),
    "test.sign_flipped": ("the sign is flipped: your gradient is exactly minus the correct one",
                          "符号反了：你的梯度正好是正确梯度的相反数"),
    "test.mask_missing": ("the ReLU mask is missing: the upstream gradient is passed through unchanged",
                          "缺少 ReLU 的掩码：上游梯度被原样传了回去"),
    "test.scaled": ("your gradient is scaled by {factor}", "你的梯度被缩放了 {factor} 倍"),
    "test.timeout": ("timeout: your code did not finish within {seconds} s (an endless loop, or far too slow)",
                     "超时：你的代码没有在 {seconds} 秒内运行完（可能是死循环，或者太慢）"),
    "test.looks_transposed": ("{grad} looks transposed", "{grad} 看起来被转置了"),
    "test.no_b1": ("the first layer has no bias b1", "第一层没有偏置 b1"),
    "test.secret": ("the secret message of a hidden check", "隐藏检查的秘密信息"),
    "test.float32": ("{grad} is float32; float64 keeps more digits", "{grad} 是 float32；float64 能保留更多位数"),
    "test.rel_err": ("worst relative error {err:.2g}", "最大相对误差 {err:.2g}"),
    "test.accuracy": ("test accuracy {accuracy:.3f} after {epochs} epochs", "训练 {epochs} 轮后测试准确率为 {accuracy:.3f}"),
    "test.check_was": ("{check} was {status}", "{check} 的结果是 {status}"),
    "test.no_numpy": ("no numpy part was found", "没有找到 numpy 部分"),
    "test.wrong": ("wrong values", "数值不正确"),
    "test.student_said": ("your code printed {text}", "你的代码输出了 {text}"),
    "test.bias_missing": ("the first layer has no bias b1: it computes {formula}", "第一层没有偏置 b1：它实际计算的是 {formula}"),
    "test.add_bias": ("declare a bias of shape (H,) for the first layer and add it: {formula}",
                      "为第一层声明形状为 (H,) 的偏置并加上它：{formula}"),
    "test.diverged": ("training diverged: the loss became NaN or infinite at epoch {epoch}",
                      "训练发散：第 {epoch} 轮时损失变成了 NaN 或无穷大"),
    "test.below": ("test accuracy {accuracy:.3f} is below the threshold {threshold:g} after {epochs} epochs",
                   "训练 {epochs} 轮后测试准确率 {accuracy:.3f} 低于阈值 {threshold:g}"),
    "test.stable": ("Softmax.forward is stable for logits of magnitude {value}", "Softmax.forward 在 logits 绝对值为 {value} 时保持稳定"),
    "test.diagonal": ("only the diagonal of the softmax Jacobian is used (grad_y * s * (1 - s)); the off-diagonal terms "
                      "-s_i * s_j are missing",
                      "只用了 softmax 雅可比矩阵的对角线 (grad_y * s * (1 - s))；缺少非对角项 -s_i * s_j"),
    "test.syntax": ("{error} (cell {cell}); this cell was skipped, the other cells are still used",
                    "{error}（第 {cell} 个单元格）；这个单元格被跳过了，其余单元格仍然使用"),
    "test.clause": ("{what}; {clause}", "{what}；{clause}"),
}
"""id -> (English, Chinese) of every test message."""

_ROOT = Path(tempfile.mkdtemp(prefix="nn-grader-test-messages-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
add("test_reports", TEXTS, root=_ROOT)
add_locale_dir(_ROOT)
CATALOG_DIR = _ROOT
"""The folder of the test catalog (<lang>/LC_MESSAGES/test_reports.po)."""


def m(message_id: str, /, **args: Arg) -> Message:
    """A message of the test catalog (or of the grader's), by id."""
    assert message_id in TEXTS or not message_id.startswith("test."), f"{message_id} is not in tests/report_messages.py"
    return msg(message_id, **args)
