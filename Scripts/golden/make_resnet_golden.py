# PyTorch reference values for the ResNets (Tests/SaneNNTests/Golden/resnet*.safetensors).
# Run from the repository root:  python3 Scripts/golden/make_resnet_golden.py
# Small widths keep the fixtures small; tests never run Python.
#
# resnet18_w4: ResNet-18, width 4, input [4, 3, 16, 16], BN weights/biases/running stats randomized.
#   state.<key>           the initial state_dict (num_batches_tracked as float)
#   train.logits/.loss    training-mode forward (batch statistics), cross-entropy on `labels`
#   grad.<key>            gradients of a few parameters (every kind of layer), grad.input of the input
#   after.<key>           running_mean / running_var / num_batches_tracked after that forward
#   eval.logits           evaluation-mode forward (running statistics) after the training step
# resnet34_w2: ResNet-34, width 2, the same for state, train and eval (gradients of a few keys).
import os, sys, torch, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet_reference import ResNet, BLOCKS
from safetensors_writer import save_safetensors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'Tests', 'SaneNNTests', 'Golden')
torch.set_num_threads(1)


def golden(name, arch, width, grads=None):
    torch.manual_seed(0)
    m = ResNet(BLOCKS[arch], width=width)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.3, 0.3)
                mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 2.0)
                mod.num_batches_tracked.fill_(3)
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    y = torch.tensor([0, 7, 3, 9])
    t = {"input": x.detach().clone(), "labels": y.float()}
    t.update({"state." + k: v.clone() for k, v in m.state_dict().items()})
    m.train()
    logits = m(x); loss = F.cross_entropy(logits, y); loss.backward()
    t.update({"train.logits": logits, "train.loss": loss.reshape([]), "grad.input": x.grad})
    t.update({"grad." + k: p.grad for k, p in m.named_parameters() if grads is None or k in grads})
    t.update({"after." + k: v.clone() for k, v in m.state_dict().items()
              if k.endswith(("running_mean", "running_var", "num_batches_tracked"))})
    m.eval()
    with torch.no_grad(): t["eval.logits"] = m(x)
    save_safetensors(os.path.join(OUT, name + ".safetensors"), t)
    print(name, sum(p.numel() for p in m.parameters()), "parameters")


golden("resnet18_w4", "Resnet18", 4, grads={"conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                                           "layer2.0.downsample.1.bias", "layer3.1.bn2.weight", "layer4.1.conv2.weight",
                                           "fc.weight", "fc.bias"})
golden("resnet34_w2", "Resnet34", 2, grads={"conv1.weight", "layer3.0.downsample.0.weight", "layer4.2.bn2.bias", "fc.weight"})
