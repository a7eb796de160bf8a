"""torch.hub entry points of sidae: a backbone exported with `sidae export RUN OUT` as torchvision's ResNet-18.

    net = torch.hub.load('path/to/sidae', 'sidae_resnet18', source='local', path='OUT/backbone.pth')

The network is `torchvision.models.resnet18` with the CIFAR stem (3x3 stride-1 conv1, padding 1, no max-pool) and
`fc = Identity()`, in eval mode; normalise its inputs with the per-channel mean and std of OUT/backbone.json (`net.sidae`).
"""
dependencies = ['torch', 'torchvision']


def sidae_resnet18(path, map_location='cpu'):
    "A SidAE, SimSiam or autoencoder backbone exported with `sidae export`, as torchvision's ResNet-18 with the CIFAR stem."
    from sidae.export import load_backbone
    return load_backbone(path, map_location)
