# Seed 004 (图像卷积, d2l 6.2 with exercises): its code blocks as printed, line breaks and the page's lost
# '=' and '@' restored.
# %%
import torch
from torch import nn
from d2l import torch as d2l
def corr2d(X, K): #@save
    """计算二维互相关运算"""
    h, w = K.shape #获取卷积核的长宽
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y
# %%
X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
corr2d(X, K)
# %%
class Conv2D(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(kernel_size))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return corr2d(x, self.weight) + self.bias
# %%
X = torch.ones((6, 8))
X[:, 2:6] = 0
X
# %%
K = torch.tensor([[1.0, -1.0]])
# %%
Y = corr2d(X, K)
Y
# %%
corr2d(X.t(), K)
# %%
# 构造一个二维卷积层,它具有1个输出通道和形状为(1,2)的卷积核
conv2d = nn.Conv2d(1,1, kernel_size=(1, 2), bias=False)

# 这个二维卷积层使用四维输入和输出格式(批量大小、通道、高度、宽度),
# 其中批量大小和通道数都为1
X = X.reshape((1, 1, 6, 8))
Y = Y.reshape((1, 1, 6, 7))
lr = 3e-2  # 学习率

for i in range(10):
    Y_hat = conv2d(X)
    l = (Y_hat - Y) ** 2
    conv2d.zero_grad()
    l.sum().backward()
    # 迭代卷积核
    conv2d.weight.data[:] -= lr * conv2d.weight.grad
    if (i + 1) % 2 == 0:
        print(f'epoch {i+1}, loss {l.sum():.3f}')
# %%
conv2d.weight.data.reshape((1, 2))
# %% exercise 1
X = torch.ones((5, 5))
for i in range(X.shape[0]):
    for j in range(X.shape[1]):
        if i == j:
            X[i,j] = 0
X
# %% exercise 1
K = torch.tensor([[1.0, -1.0]])
corr2d(X, K) # 输出形状为(5,4),检测对角线边缘,对角线上为-1,下为1
# %% exercise 1
corr2d(X.t(), K) # X转置后结果不变
# %% exercise 1
corr2d(X, K.t()) # 输出形状变成(4,5),检测对角线边缘,对角线上为1,下为-1
# %% exercise 2 (the seed shows this cell failing: "The size of tensor a (4) must match the size of tensor b (7)")
conv2d = Conv2D((1,2))
Y_hat = conv2d(X)
l = (Y_hat - Y) ** 2
conv2d.zero_grad()
l.sum().backward()
conv2d.weight.data[:] -= lr * conv2d.weight.grad
# %% exercise 3
def corr2d_matmul(X, K):
    h, w = K.shape
    # 将输入X中每次与卷积核做互相关运算的元素展平成一行
    # X_reshaped的每一行元素均为与卷积核做互相关的元素
    X_reshaped = torch.zeros((X.shape[0] - h + 1)*(X.shape[1] - w + 1), h*w)
    k = 0
    for i in range(X.shape[0] - h + 1):
        for j in range(X.shape[1] - w + 1):
            X_reshaped[k,:] = X[i:i + h, j:j + w].reshape(1,-1)
            k += 1
    # 将卷积核K转为列向量,并与X_reshaped做矩阵乘法,再reshape成输出尺寸即可
    Y = X_reshaped@K.view(-1)
    return Y.reshape(X.shape[0] - h + 1, X.shape[1] - w + 1)
# %% exercise 3
X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
Y = corr2d_matmul(X, K)
Y
