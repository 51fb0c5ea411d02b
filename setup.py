# Copyright 2026 The MaskFormer-TF Authors. Licensed under the Apache License 2.0.
"""Packaging of MaskFormer for TensorFlow Model Garden.

The wheel holds two import roots:
  * `projects.maskformer`: the implementation;
  * `official.projects.maskformer`: Model Garden's entry points. Only this
    sub-package of `official` is shipped; it installs into the `official/` tree
    of tf-models-official, which keeps providing `official.core` and the rest.
"""
import setuptools

setuptools.setup(
    name='maskformer-tf',
    version='0.1.0',
    description=('MaskFormer (per-pixel classification is not all you need) '
                 'for TensorFlow Model Garden, with PyTorch parity.'),
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=(setuptools.find_packages(include=['projects', 'projects.*']) +
              ['official.projects.maskformer']),
    python_requires='>=3.10,<3.14',
    install_requires=[
        'tensorflow~=2.20.0',
        'tf-models-official==2.20.0',
        'tf-keras~=2.20.0',
        'tensorflow-datasets>=4.9,<5',
        'pycocotools>=2.0.7,<3',
        'numpy>=1.26,<3',
        'absl-py>=1.4,<3',
        'gin-config>=0.5,<1',
        'Pillow>=10,<14',
        'tqdm>=4.60,<5',
        'PyYAML>=6,<7',
        'scipy>=1.11,<2',
    ],
    extras_require={
        'test': [
            'pytest>=8,<10',
            'pytest-xdist>=3.5,<4',
            'ruff>=0.6,<1',
        ],
        # The `transformers` port of MaskFormer: tools/benchmark.py's PyTorch
        # side and tools/verify_reference.py --pytorch_witness.
        'pytorch': [
            'torch==2.13.0',
            'transformers>=5.23,<6',
            'safetensors>=0.4,<1',
        ],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
