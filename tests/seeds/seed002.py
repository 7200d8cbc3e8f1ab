# Seed 002 (pytorch学习——卷积神经网络——以LeNet为例): its code blocks as printed, line breaks restored.
# %%
import torch
from torch import nn
from d2l import torch as d2l

def corr2d(X, K):  #@save
    """计算二维互相关运算"""
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y
X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
corr2d(X, K)
# %%
import torch
from torch import nn
from d2l import torch as d2l
# 定义卷积神经网络
net = nn.Sequential(
    nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),  # 第一层卷积层
    nn.AvgPool2d(kernel_size=2, stride=2),  # 第一层池化层
    nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),  # 第二层卷积层
    nn.AvgPool2d(kernel_size=2, stride=2),  # 第二层池化层
    nn.Flatten(),  # 展平操作,将多维输入转换为一维向量
    nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),  # 全连接层1
    nn.Linear(120, 84), nn.Sigmoid(),  # 全连接层2
    nn.Linear(84, 10)  # 输出层,输出类别的数量为10
)
# %%
X = torch.rand(size=(1, 1, 28, 28), dtype=torch.float32)
for layer in net:
    X = layer(X)
    print(layer.__class__.__name__,'output shape: \t',X.shape)
