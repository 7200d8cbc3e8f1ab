"""Hard-example mining (`--hard-fraction F --hard-from E`): from epoch E on, every epoch trains only on the
fraction F of the training images whose loss was highest when the network last saw them. The losses come
free with each training forward; the images the network already gets right drop out of the later epochs,
so such an epoch costs about F of a full one. README "The speed-run recipe" has what it bought there.

LossMemory holds those losses: `last` as they stood when the epoch began (what the epoch's choice is made
from, so a run resumed mid-epoch makes the same choice) and `fresh`, the epoch's own so far. Both go into
the checkpoint."""
import torch

UNSEEN = -1.0  # a cross-entropy is never negative


class LossMemory:
    def __init__(self, n: int, device):
        self.last = torch.zeros(n, device=device)  # each image's loss when last seen, as of the epoch's start
        self.fresh = torch.full((n,), UNSEEN, device=device)  # this epoch's losses so far

    def hardest(self, count: int) -> torch.Tensor:
        """The indices of the `count` images with the highest loss when last seen, in ascending order."""
        return self.last.topk(count).indices.sort().values

    def record(self, index: torch.Tensor, losses: torch.Tensor) -> None:
        """The per-image training losses of one batch (`index`: the images' places in the training set)."""
        self.fresh[index] = losses.detach().float()

    def gather(self, all_sum=None) -> None:
        """Every process's fresh losses on every process (before a mid-epoch checkpoint and at the epoch's end):
        `all_sum` adds a tensor over the processes; None: one process."""
        if all_sum is None:
            return
        seen = self.fresh >= 0
        total = all_sum(torch.where(seen, self.fresh, 0.0))
        count = all_sum(seen.float())  # an image two processes hold (a resumed epoch) counts once
        self.fresh = torch.where(count > 0, total / count.clamp(min=1), UNSEEN)

    def end_epoch(self, all_sum=None) -> None:
        """The epoch is over: its losses replace the older ones of the images it trained on."""
        self.gather(all_sum)
        self.last = torch.where(self.fresh >= 0, self.fresh, self.last)
        self.fresh.fill_(UNSEEN)

    def state_dict(self) -> dict:
        return {"last": self.last.cpu(), "fresh": self.fresh.cpu()}

    def load_state_dict(self, state: dict, fresh: bool = True) -> None:
        """`fresh=False` (a process other than the first): the epoch's losses so far are the first's to carry."""
        self.last = state["last"].to(self.last.device)
        self.fresh = state["fresh"].to(self.fresh.device) if fresh else torch.full_like(self.last, UNSEEN)
