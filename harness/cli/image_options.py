"""``--images DIR``, ``--image-mode`` and ``--labels`` of compare, sweep, replay and load: real photos instead of
synthetic images, and their labels, so accuracy is measured in the same run as latency."""
from __future__ import annotations

import argparse

from nodes.image_folder import IMAGE_MODES

IMAGE_OPTION_FIELDS = ("images_dir", "image_mode", "labels_file")


def add_image_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("images from a folder (default: synthetic JPEGs of each size)")
    group.add_argument("--images", dest="images_dir", metavar="DIR",
                       help="the devices send the .jpg/.jpeg/.png files under DIR, in a seeded order (--seed), a new "
                            "one each repetition")
    group.add_argument("--image-mode", dest="image_mode", choices=IMAGE_MODES,
                       help="resize: re-encode each image to every --sizes at a resolution and JPEG quality that "
                            "reach it (the rows record both); as-is: send the files as they are, the size column is "
                            "each file's size (default: resize)")
    group.add_argument("--labels", dest="labels_file", metavar="FILE.csv",
                       help="filename,label lines: each row records its true label and whether the answer matched "
                            "(default: labels from the folder names, DIR/<label>/x.jpg)")
