# A tiny PyTorch-trained ResNet zoo in the Model Zoos layout (Tests/SaneTests/Golden/resnet-zoo/),
# for the test that loads torchvision-layout checkpoints and reproduces PyTorch's outputs.
# Run from the repository root:  python3 Scripts/golden/make_resnet_zoo_fixture.py
#
#   resnet-zoo/resnet18_w8_prefixed/  ResNet-18 width 8, trained 5 SGD steps (training mode, so BN
#       running statistics and num_batches_tracked are real), saved as torch.save(state_dict)
#       with every key under the wrapper prefix "model." — checkpoint_000001 only (size)
#   resnet-zoo/resnet18_w2_plain/     ResNet-18 width 2, plain torchvision keys, checkpoint_000000
#   resnet-zoo/data.safetensors       images [8, 3, 32, 32] (k/255), labels [8], and
#                                     logits.<model> [8, 10]: PyTorch's evaluation-mode logits
# Each model's result.json records test_acc / test_loss on those 8 images at its checkpoint.
import collections, json, os, sys, torch, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet_reference import ResNet, BLOCKS
from safetensors_writer import save_safetensors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'Tests', 'SaneTests', 'Golden', 'resnet-zoo')
torch.set_num_threads(1)
torch.manual_seed(0)
images = torch.randint(0, 256, (8, 3, 32, 32)).float() / 255
labels = torch.randint(0, 10, (8,))
train_x = torch.randint(0, 256, (5, 16, 3, 32, 32)).float() / 255
train_y = torch.randint(0, 10, (5, 16))
data = {"images": images, "labels": labels.float()}


def make(name, width, steps, epoch, prefix):
    torch.manual_seed(1)
    m = ResNet(BLOCKS["Resnet18"], width=width)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    m.train()
    for i in range(steps):
        opt.zero_grad(); F.cross_entropy(m(train_x[i]), train_y[i]).backward(); opt.step()
    m.eval()
    with torch.no_grad(): logits = m(images)
    data["logits." + name] = logits
    d = os.path.join(OUT, name); ck = os.path.join(d, f"checkpoint_{epoch:06d}")
    os.makedirs(ck, exist_ok=True)
    torch.save(collections.OrderedDict((prefix + k, v) for k, v in m.state_dict().items()), os.path.join(ck, "checkpoints"))
    params = {"model::type": "Resnet18", "model::width": width, "model::channels_in": 3, "model::o_dim": 10,
              "optim::optimizer": "sgd", "optim::lr": 0.05, "seed": 1, "training::batchsize": 16, "dataset::name": "fixture"}
    with open(os.path.join(d, "params.json"), "w") as f: json.dump(params, f, indent=2)
    acc = (logits.argmax(1) == labels).float().mean().item()
    loss = F.cross_entropy(logits, labels).item()
    with open(os.path.join(d, "result.json"), "w") as f:
        f.write(json.dumps({"test_acc": acc, "test_loss": loss, "training_iteration": epoch}) + "\n")
    print(name, acc, loss)


make("resnet18_w8_prefixed", 8, 5, 1, "model.")
make("resnet18_w2_plain", 2, 0, 0, "")
save_safetensors(os.path.join(OUT, "data.safetensors"), data)
