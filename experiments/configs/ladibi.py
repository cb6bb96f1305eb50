"""LADiBI: blind image restoration with a prompt-conditioned diffusion prior (PAPERS.md section 10).

Two stages, one trainer (`config.stage`):
  prior    a text-conditioned pixel-space EDM U-Net (jaxdiff.networks.unet2d, text encoder inside)
           trained here on captioned images; a fraction of the training images is degraded (blur,
           JPEG) with the degradation named in the caption, so negative prompts ("blurry", "jpeg
           artifacts") mean something. Sample grids (PNG) at the end.
  restore  held-out images degraded by a task's operator, restored by LADiBI (Algorithm 2 operator
           initialisation, then Algorithm 1 refinement; jaxdiff.ladibi.posterior) and by the
           baselines: the degraded input, the same sampler with the true operator (non-blind
           bound), the prior without measurement steps, and a classical blind method; PSNR / SSIM
           / perceptual distance / kernel error per method (mean +- s.e. over images), strips PNG.
           The prior comes from `restore.prior_dir`, trained there first when it holds none.

  python -m experiments.main --config experiments/configs/ladibi.py:smoke --workdir /tmp/ladibi
  python -m experiments.main --config experiments/configs/ladibi.py:prior-shapes \
      --workdir runs/ladibi/prior-shapes
  python -m experiments.main --config experiments/configs/ladibi.py:restore-gaussian-deblur \
      --workdir runs/ladibi/gaussian-seed0 --config.restore.prior_dir=runs/ladibi/prior-shapes
  python -m experiments.main --config experiments/configs/ladibi.py:prior-folder \
      --workdir runs/ladibi/prior-ffhq --config.data.path=/data/ffhq64 --config.data.prompt="a photo of a face"

Presets: smoke (a 200-step prior-smoke, then restore gaussian-deblur on 4 images: a pipeline
check, ~6 min), prior-smoke, prior-shapes-cpu (the prior of docs/ladibi_fidelity.md, ~50 min on 2
cores), prior-shapes (a wider U-Net for 60k steps: GPU scale), prior-bundled (skimage's bundled
photos), prior-folder (a user's image folder), and restore-<task> for gaussian-deblur,
motion-deblur and jpeg (at the shapes prior's 32 px). The fidelity runs:
bash scripts/ladibi_fidelity.sh (prior-shapes-cpu, then every task for restore seeds 0-2).

Protocol decisions (the paper works at 256 px with 61x61 / 64x64 kernels; BlindDPS: Gaussian sigma
3.0, motion intensity 0.5, sigma_y 0.02): at 32 px the kernel is 9x9 and the Gaussian's sigma 1.5
(the paper's sigma scaled with the kernel-to-image ratio would be invisible, so the blur is chosen
to erase the scenes' small shapes), motion intensity 0.5 on the 9x9 grid, sigma_y 0.02 on the
[-1, 1] image scale; JPEG at quality 10. Step sizes of the samplers were chosen on the val split
(`restore.split=val`), never on test.
"""
import ml_collections

from experiments.runtime.optim import optim_config

TASKS = ("gaussian-deblur", "motion-deblur", "jpeg")
PRESETS = ("smoke", "prior-smoke", "prior-shapes-cpu", "prior-shapes", "prior-bundled",
           "prior-folder") + tuple(
    f"restore-{t}" for t in TASKS)


def _prior(c: ml_collections.ConfigDict, preset: str) -> None:
  c.data = ml_collections.ConfigDict()
  c.data.name = "shapes"            # shapes | bundled | folder (jaxdiff.images)
  c.data.size = 32
  c.data.path = ""                  # folder: a directory of images
  c.data.caption_file = ""          # folder: "name<TAB>caption" lines
  c.data.prompt = ""                # folder: one caption for every image
  c.data.batch_size = 64

  c.augment = ml_collections.ConfigDict()
  c.augment.degrade_fraction = 0.2  # of training images degraded, degradation words in the caption
  c.augment.blur_sigma = (0.8, 2.0)  # Gaussian blur sigmas drawn uniformly
  c.augment.kernel_size = 9
  c.augment.motion_bank = 256       # precomputed motion kernels drawn from (intensity 0.5)
  c.augment.jpeg_bank = 2048        # precomputed (clean, JPEG) training pairs; 0 = no JPEG
  c.augment.jpeg_quality = (5, 30)
  c.augment.prompt_dropout = 0.1    # classifier-free guidance: null prompt this often

  c.model = ml_collections.ConfigDict()
  c.model.channels = (64, 128, 128)
  c.model.num_res_blocks = 2
  c.model.attn_levels = (2,)        # self + cross attention at the 8x8 level
  c.model.emb_dim = 128
  c.model.text_dim = 128
  c.model.text_layers = 2
  c.model.num_heads = 4
  c.model.dropout = 0.1

  c.edm = ml_collections.ConfigDict()
  c.edm.sigma_min = 0.002
  c.edm.sigma_max = 80.0
  c.edm.rho = 7.0
  c.edm.sigma_data = 0.5
  c.edm.p_mean = -1.2
  c.edm.p_std = 1.2

  c.optim = optim_config(name="adamw", lr=2e-4, schedule="constant", warmup_steps=500,
                         weight_decay=0.0, max_grad_norm=1.0)
  c.train = ml_collections.ConfigDict()
  c.train.ema_decay = 0.999
  c.train.num_steps = 60_000
  c.train.steps_per_call = 20
  c.train.log_every = 500
  c.train.checkpoint_every = 2000
  c.train.keep_checkpoints = 2

  c.eval = ml_collections.ConfigDict()
  c.eval.grid = 8                   # an 8x8 PNG grid of samples per prompt set
  c.eval.num_bins = 32              # Heun grid for the sample grids
  c.eval.guidance = 2.0

  if preset in ("prior-smoke", "smoke", "prior-shapes-cpu"):
    c.model.channels = (32, 64, 64)
    c.model.num_res_blocks = 1
    c.model.emb_dim = 64
    c.model.text_dim = 64
    c.model.text_layers = 1
    c.model.dropout = 0.0
    c.data.batch_size = 32
    c.optim = optim_config(name="adamw", lr=1e-3, schedule="cosine", warmup_steps=20,
                           weight_decay=0.0, max_grad_norm=1.0)
    c.train.ema_decay = 0.99
    c.train.num_steps = 200           # a pipeline check (~4 min): samples are still noise
    c.train.steps_per_call = 50
    c.train.log_every = 50
    c.train.checkpoint_every = 200
    c.augment.jpeg_bank = 256
    c.eval.grid = 4
  if preset == "prior-shapes-cpu":    # the prior of docs/ladibi_fidelity.md: ~50 min on 2 cores
    c.optim.warmup_steps = 100
    c.train.log_every = 250
    c.train.num_steps = 3000
    c.train.ema_decay = 0.999
    c.train.checkpoint_every = 500
    c.augment.jpeg_bank = 1024
    c.eval.grid = 6
  elif preset == "prior-bundled":
    c.data.name = "bundled"
    c.data.size = 64
    c.model.attn_levels = (3,)
    c.model.channels = (64, 128, 128, 128)
  elif preset == "prior-folder":
    c.data.name = "folder"
    c.data.size = 64
    c.model.attn_levels = (3,)
    c.model.channels = (64, 128, 128, 128)


def _restore(c: ml_collections.ConfigDict, task: str) -> None:
  c.restore = ml_collections.ConfigDict()
  c.restore.task = task
  c.restore.prior_dir = ""          # a prior stage's workdir; "" = <workdir>/prior (trained first)
  c.restore.prior_preset = "prior-shapes"  # what to train there when it holds no prior
  c.restore.split = "test"          # "val" to choose step sizes; never tune on test
  c.restore.num_images = 32
  c.restore.batch = 8               # images restored per jitted call
  c.restore.seed = 0                # degradation noise and sampler randomness
  c.restore.sigma_y = 0.02
  c.restore.kernel_size = 9
  c.restore.gaussian_sigma = 1.5
  c.restore.motion_intensity = 0.5
  c.restore.jpeg_quality = 10
  c.restore.positive = "caption"    # "caption": each image's own caption; else a fixed prompt
  c.restore.negative = "degradation"  # the task's degradation words; "" = the null prompt
  c.restore.kernel_param = "softmax"  # blind kernel parametrisation (jaxdiff.ladibi.operators)
  c.restore.kernel_init_sigma = 0.7   # the blind kernel starts as a narrow Gaussian
  c.restore.methods = "degraded,ladibi,nonblind,prior_only,classical"
  c.restore.classical_iters = 50
  c.restore.strips = 6              # images shown in strips.png

  # Chosen on 16 val images of gaussian-deblur (docs/ladibi_fidelity.md, "Choosing the sampler"):
  # CFG weight 2 over-saturates textures with the CPU prior, so guidance 1 (positive prompt only);
  # the perceptual term mis-fits the kernel (rel. error 0.68 -> 0.38 without it); a start at 0.5.
  c.posterior = ml_collections.ConfigDict()
  c.posterior.guidance = 1.0
  c.posterior.sigma_start = 0.5
  c.posterior.sigma_min = 0.01
  c.posterior.rho = 7.0
  c.posterior.num_steps = 30
  c.posterior.eta = 0.5
  c.posterior.x_steps = 5
  c.posterior.lr_x = 0.1
  c.posterior.x_optimizer = "sgd"
  c.posterior.perceptual_weight = 0.0
  c.posterior.phi_every = 1
  c.posterior.phi_steps = 5
  c.posterior.lr_phi = 0.01
  c.posterior.init_rounds = 2
  c.posterior.init_samples = 4
  c.posterior.init_steps = 5
  c.posterior.init_fit_steps = 100
  c.posterior.init_lr_phi = 0.05
  c.restore.jpeg_base_quality = 20   # the blind JPEGNet's codec starts at this quality ...
  c.restore.jpeg_train_quality = (5, 30)  # ... and is pretrained on Pillow JPEGs of these
  c.restore.jpeg_net_steps = 300
  if task == "jpeg":
    c.restore.kernel_param = "jpeg_net"
    c.restore.classical_iters = 0
    c.restore.methods = "degraded,ladibi,nonblind,prior_only"
    # phi is a whole network here: Adam at the kernels' rates (0.01 / 0.05) blows the residual
    # up to inf within Algorithm 2's 100 fit steps
    c.posterior.lr_phi = 1e-4
    c.posterior.init_lr_phi = 1e-3


def get_config(preset: str = "smoke") -> ml_collections.ConfigDict:
  if preset not in PRESETS:
    raise ValueError(f"unknown preset '{preset}'; valid: {', '.join(PRESETS)}")
  c = ml_collections.ConfigDict()
  c.trainer = "ladibi"
  c.seed = 0
  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "tensor": 1})
  if preset.startswith("restore-") or preset == "smoke":
    c.stage = "restore"
    task = "gaussian-deblur" if preset == "smoke" else preset[len("restore-"):]
    _restore(c, task)
    c.prior = ml_collections.ConfigDict()
    _prior(c.prior, "prior-smoke" if preset == "smoke" else "prior-shapes")
    if preset == "smoke":
      c.restore.prior_preset = "prior-smoke"
      c.restore.num_images = 4
      c.restore.batch = 4
      c.restore.strips = 4
      c.posterior.num_steps = 10
      c.posterior.init_steps = 3
      c.posterior.init_samples = 2
  else:
    c.stage = "prior"
    _prior(c, preset)
  return c
