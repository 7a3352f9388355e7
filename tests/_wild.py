"""VAEs as their authors wrote them (tiny sizes), to diagnose as a new user would.

- :class:`ExamplesVAE`: the VAE of the official PyTorch examples (vae/main.py): 784-400-20 MLP, sigmoid
  output, binary cross-entropy (sum) + KL; encode() takes flat rows.
- :class:`VanillaVAE`: the conv + BatchNorm VAE of a widely copied VAE collection (LeakyReLU, Tanh output
  on data in [-1, 1], encode() returns a LIST [mu, log_var], loss F.mse_loss (mean) + kld_weight * KL
  averaged over the batch), with hidden_dims shrunk so tests take seconds.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ExamplesVAE(nn.Module):
    def __init__(self):
        super(ExamplesVAE, self).__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def examples_loss(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


class VanillaVAE(nn.Module):
    def __init__(self, in_channels=3, latent_dim=4, hidden_dims=None, size=8):
        super(VanillaVAE, self).__init__()
        self.latent_dim = latent_dim
        hidden_dims = hidden_dims or [8, 16]
        modules = []
        for h_dim in hidden_dims:
            modules.append(nn.Sequential(
                nn.Conv2d(in_channels, out_channels=h_dim, kernel_size=3, stride=2, padding=1),
                nn.BatchNorm2d(h_dim), nn.LeakyReLU()))
            in_channels = h_dim
        self.encoder = nn.Sequential(*modules)
        self.side = size // 2 ** len(hidden_dims)
        flat = hidden_dims[-1] * self.side ** 2
        self.fc_mu = nn.Linear(flat, latent_dim)
        self.fc_var = nn.Linear(flat, latent_dim)
        self.decoder_input = nn.Linear(latent_dim, flat)
        hidden_dims = hidden_dims[::-1]
        self.top = hidden_dims[0]
        modules = []
        for i in range(len(hidden_dims) - 1):
            modules.append(nn.Sequential(
                nn.ConvTranspose2d(hidden_dims[i], hidden_dims[i + 1], kernel_size=3, stride=2, padding=1, output_padding=1),
                nn.BatchNorm2d(hidden_dims[i + 1]), nn.LeakyReLU()))
        self.decoder = nn.Sequential(*modules)
        self.final_layer = nn.Sequential(
            nn.ConvTranspose2d(hidden_dims[-1], hidden_dims[-1], kernel_size=3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(hidden_dims[-1]), nn.LeakyReLU(),
            nn.Conv2d(hidden_dims[-1], out_channels=3, kernel_size=3, padding=1), nn.Tanh())

    def encode(self, input):
        result = self.encoder(input)
        result = torch.flatten(result, start_dim=1)
        mu = self.fc_mu(result)
        log_var = self.fc_var(result)
        return [mu, log_var]

    def decode(self, z):
        result = self.decoder_input(z)
        result = result.view(-1, self.top, self.side, self.side)
        result = self.decoder(result)
        result = self.final_layer(result)
        return result

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return eps * std + mu

    def forward(self, input):
        mu, log_var = self.encode(input)
        z = self.reparameterize(mu, log_var)
        return [self.decode(z), input, mu, log_var]

    def loss_function(self, *args, M_N=0.005):
        recons, input, mu, log_var = args[0], args[1], args[2], args[3]
        kld_weight = M_N
        recons_loss = F.mse_loss(recons, input)
        kld_loss = torch.mean(-0.5 * torch.sum(1 + log_var - mu ** 2 - log_var.exp(), dim=1), dim=0)
        return recons_loss + kld_weight * kld_loss


def binary_shapes(n, seed=0):
    """(n, 784) binary images: a filled rectangle each (MNIST-like data in {0, 1})."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28), np.float32)
    for i in range(n):
        r0, c0 = rng.integers(2, 14, 2)
        h, w = rng.integers(4, 13, 2)
        x[i, r0:r0 + h, c0:c0 + w] = 1.0
    return torch.from_numpy(x.reshape(n, 784))


def colour_blobs(n, size=8, seed=0):
    """(n, 3, size, size) images in [-1, 1] (a smooth colour gradient per image)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(-1, 1, size)
    a = rng.uniform(-1, 1, (n, 3, 1, 1))
    b = rng.uniform(-1, 1, (n, 3, 1, 1))
    x = np.tanh(a * t[None, None, :, None] + b * t[None, None, None, :] + 0.3 * a)
    return torch.from_numpy(x.astype(np.float32))


def train_examples(model, x, steps=30, seed=0):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for s in range(steps):
        xb = x[(s * 50) % len(x):(s * 50) % len(x) + 50]
        recon, mu, logvar = model(xb)
        loss = examples_loss(recon, xb, mu, logvar)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def train_vanilla(model, x, steps=30, kld_weight=0.005, seed=0):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    for s in range(steps):
        xb = x[(s * 32) % len(x):(s * 32) % len(x) + 32]
        loss = model.loss_function(*model(xb), M_N=kld_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model
