"""The image model: media types, descriptors, manifests, indexes, configs, layers and images."""

from kiln.oci import mediatypes
from kiln.oci.config import ContainerConfig, Healthcheck, History, ImageConfig
from kiln.oci.descriptor import Descriptor
from kiln.oci.image import Image, ImageIndex, StaticImage, StaticIndex
from kiln.oci.layer import BlobLayer, FileLayer, Layer
from kiln.oci.manifest import Index, Manifest
from kiln.oci.platform import Platform

__all__ = [
    "BlobLayer",
    "ContainerConfig",
    "Descriptor",
    "FileLayer",
    "Healthcheck",
    "History",
    "Image",
    "ImageConfig",
    "ImageIndex",
    "Index",
    "Layer",
    "Manifest",
    "Platform",
    "StaticImage",
    "StaticIndex",
    "mediatypes",
]
