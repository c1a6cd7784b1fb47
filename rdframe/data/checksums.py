"""Size and sha256 of every published file that rdframe reads, as ``sha256sum`` tables.

The idx files are MNIST's and Fashion-MNIST's as torchvision unpacks them (their MD5s are
the published 6bbc9ace…, f4a8712d…, …); the ``.amat`` files are Larochelle's, whose sha256
tensorflow-datasets also publishes.
"""

from __future__ import annotations

from rdframe.data.files import FileSpec

_SHA256 = {  # folder: sha256sum's lines for its files
    "MNIST/raw": """
ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte
""",
    "FashionMNIST/raw": """
c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888  train-images-idx3-ubyte
bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9  train-labels-idx1-ubyte
5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b  t10k-images-idx3-ubyte
0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34  t10k-labels-idx1-ubyte
""",
    "BinarizedMNIST": """
ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d  binarized_mnist_train.amat
1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2  binarized_mnist_valid.amat
e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c  binarized_mnist_test.amat
""",
}

_SIZE = {
    "train-images-idx3-ubyte": 47_040_016,
    "train-labels-idx1-ubyte": 60_008,
    "t10k-images-idx3-ubyte": 7_840_016,
    "t10k-labels-idx1-ubyte": 10_008,
    "binarized_mnist_train.amat": 78_400_000,
    "binarized_mnist_valid.amat": 15_680_000,
    "binarized_mnist_test.amat": 15_680_000,
}

SHA256: dict[str, str] = {
    f"{folder}/{name}": digest
    for folder, table in _SHA256.items()
    for digest, name in (line.split() for line in table.strip().splitlines())
}


def published(path: str, url: str = "") -> FileSpec:
    """The FileSpec of a published file, by its path under the data folder."""
    return FileSpec(path, _SIZE[path.rsplit("/", 1)[-1]], SHA256[path], url)
